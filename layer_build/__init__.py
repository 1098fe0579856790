"""Builds the Lambda layer zips (python packages; model code) and checks them against AWS's limits.

    from layer_build import build_layers
    result = build_layers("local")          # or "aws" (Lambda's manylinux wheels; needs PyPI)
    print(result.report.table())

CLI: ``python -m layer_build [--target local|aws] [--stack numpy|scikit-learn] [--out DIR] [--json]``.
The predict function's packages layer is numpy alone (it serves a numpy export of the model);
``layer_build.compare.compare_stacks`` measures it beside the scikit-learn stack (notebook 03).
"""
from .build import (LAYER_NAMES, MODEL_CODE, PACKAGES, BuildResult, LayerArtifact, build_layers,
                    build_model_code_layer, build_packages_layer)
from .limits import MAX_DIRECT_UPLOAD_BYTES, MAX_LAYERS, MAX_UNZIPPED_BYTES, ArtifactSize, SizeReport

__all__ = ["LAYER_NAMES", "MODEL_CODE", "PACKAGES", "BuildResult", "LayerArtifact", "build_layers",
           "build_model_code_layer", "build_packages_layer", "ArtifactSize", "SizeReport",
           "MAX_DIRECT_UPLOAD_BYTES", "MAX_LAYERS", "MAX_UNZIPPED_BYTES"]
