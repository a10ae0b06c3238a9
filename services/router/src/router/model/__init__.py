"""The learned classifier: character n-grams, a linear SVM, calibrated confidences, explanations.

Public surface: train and load models, predict, evaluate, keep corrections, retrain behind the evaluation gate.
"""

from .bootstrap import Bootstrapped, bootstrap
from .corrections import Correction, CorrectionStore, record_correction
from .data import DataError, Labelled, read_labelled_csv
from .evaluation import Evaluation, evaluate, format_report
from .layout import ModelDir
from .retraining import RetrainError, RetrainOutcome, retrain
from .store import ModelFileError, load_model, read_model_document, save_model
from .text_model import Prediction, TextModel
from .training import TrainingError, TrainingOptions, train

__all__ = [
    "Bootstrapped",
    "Correction",
    "CorrectionStore",
    "DataError",
    "Evaluation",
    "Labelled",
    "ModelDir",
    "ModelFileError",
    "Prediction",
    "RetrainError",
    "RetrainOutcome",
    "TextModel",
    "TrainingError",
    "TrainingOptions",
    "bootstrap",
    "evaluate",
    "format_report",
    "load_model",
    "read_labelled_csv",
    "read_model_document",
    "record_correction",
    "retrain",
    "save_model",
    "train",
]
