"""Predict Lambda: ``POST /predict`` behind API Gateway (REST, AWS_PROXY).

Body ``{"instances": [{feature: number, ...}, ...]}`` (the 30 features of
``model_code.schema.FEATURE_NAMES``; at most ``MAX_ROWS`` rows).

- 200 ``{"predictions": [0|1, ...], "probabilities": [float, ...], "model_version": "v003"}``:
  ``probabilities[i]`` is P(class 1) (``benign``; 0 is ``malignant``) for row i, a single
  float per row, and ``predictions[i]`` the predicted class.
- 400 ``{"message": ..., "model_version": ...}`` for any bad body (names the field, row or
  limit); never a 5xx.
- 503 ``{"message": ..., "model_version": ...}`` while no model is promoted
  (``models/latest.json`` absent) or the promoted one cannot be loaded (retried with backoff).

The serving export named by ``models/latest.json`` in ``OUTPUT_BUCKET`` is loaded with
numpy alone (no scikit-learn, scipy or joblib) and the pointer re-read at most every
``MODEL_REFRESH_SECONDS``. All logic is in ``service.py``; see its docstring.
"""
try:  # imported as lambda_code.predict.handler (tests, tools)
    from . import service
except ImportError:  # in Lambda the zip's root is on sys.path and this is a top-level module
    import service


def handler(event, context):
    return service.handle(event, context)
