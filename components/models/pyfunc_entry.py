"""Entry file MLflow runs to build the pyfunc model ("models from code": no pickle)."""

import mlflow.models

from components.models.pyfunc import RecoPythonModel

mlflow.models.set_model(RecoPythonModel())
