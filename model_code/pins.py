"""The one place that pins the model's runtime stack.

The scikit-learn that trains (in the notebook and on the EC2 instance) must be the
one the predict layer carries, or a pickled model may not load where it is served.
pyproject.toml, environment.yml, the EC2 user data and the AWS layer build all
follow this file; tests/unit/test_pins.py keeps them in step.
"""

SKLEARN_VERSION = "1.9.1"

# The rest of the layer's python packages, for the AWS (manylinux) layer build and
# the EC2 user data. Lower bounds only: pip picks the newest that fits the target.
RUNTIME_REQUIREMENTS = (
    f"scikit-learn=={SKLEARN_VERSION}",
    "numpy>=1.26",
    "scipy>=1.11",
    "joblib>=1.3",
    "threadpoolctl>=3.1",
)
