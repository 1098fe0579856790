"""Predict Lambda: ``POST /predict`` behind API Gateway (REST, AWS_PROXY).

Body ``{"instances": [{feature: value, ...}, ...]}`` (the features of the served model's
dataset file, ``model_code.spec``; at most ``MAX_ROWS`` rows).

- 200 ``{"predictions": [...], "labels": [...], "class_probabilities": [...], "probabilities":
  [...], "model_version": "v003"}`` for classification (``probabilities[i]`` is P(class 1),
  ``benign``, for the default dataset), ``{"predictions": [value, ...], "target": name,
  "model_version": ...}`` for regression (see ``service.py``).
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
