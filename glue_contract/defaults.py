"""Defaults shared by the functions, the instance and ``mlpipe.config`` (one place)."""

COMMAND_TIMEOUT_S = 900      # SSM executionTimeout of a training run: a hung command is killed
READY_TIMEOUT_S = 300        # how long the worker waits for the instance to take commands
IDLE_GRACE_S = 420           # reaper: running this long with no command in flight -> stopped
PROMOTION_TOLERANCE = 0.01   # a new model may be this much worse (holdout roc_auc, absolute)
MODEL_KIND = "logreg"
COALESCE_AT = 2              # worker: no third command while two are pending/in progress
SEND_LOCK_TTL_S = 60         # worker: the send lock expires this long after it was taken
DELIVERY_TIMEOUT_S = 600     # SSM's delivery timeout (the instance already accepts commands)
LOST_RUN_WINDOW_S = 86400    # reaper: commands older than this are not looked at any more
MAX_DATA_FILE_BYTES = 50 * 1024 * 1024  # 50 MiB: a larger data file is set aside (upload-data refuses it)
