"""The one lock of the model's runtime stack: exact versions, read everywhere it is installed.

The packages that train (in the notebook and on the EC2 instance) must be the ones the
predict layer serves with, or a pickled model may not load (or may predict differently)
where it is served. The AWS layer build (``layer_build``) installs ``RUNTIME_REQUIREMENTS``;
the EC2 user data (``mlpipe.instance.render_user_data``) installs ``TRAINING_REQUIREMENTS``.
pyproject.toml and environment.yml allow these versions (scikit-learn pinned exactly);
tests/unit/test_pins.py keeps them in step.
"""

SKLEARN_VERSION = "1.9.1"

# Exact versions of the training and serving stack (scikit-learn and what it imports,
# plus the AWS SDK the instance's training script uses).
LOCK = {
    "scikit-learn": SKLEARN_VERSION,
    "numpy": "2.4.6",
    "scipy": "1.17.1",
    "joblib": "1.6.0",
    "threadpoolctl": "3.8.0",
    "boto3": "1.44.8",
}


def requirements(*packages: str) -> tuple:
    """``name==version`` lines of the lock, for ``packages`` (default: all of it)."""
    chosen = packages or tuple(LOCK)
    unknown = [p for p in chosen if p not in LOCK]
    if unknown:
        raise KeyError(f"not in the lock (model_code/pins.py): {', '.join(unknown)}")
    return tuple(f"{p}=={LOCK[p]}" for p in chosen)


# The packages layer (Lambda provides boto3 itself).
RUNTIME_REQUIREMENTS = requirements("scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl")
# The training instance.
TRAINING_REQUIREMENTS = requirements()
