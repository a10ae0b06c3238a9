"""/admin on the router's port: the live model, recording corrections, retraining on demand.

Signed-in staff only, checked by case-api (admin_auth): administrators and supervisors may look at the model;
only administrators record corrections and retrain.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field, field_validator

from .admin_auth import require_role
from .classifier import Classifier
from .model import CorrectionStore, DataError, RetrainError, TrainingError, record_correction, retrain

log = structlog.get_logger(__name__)


class CorrectionIn(BaseModel):
    text: str = Field(min_length=1, max_length=20_000)
    label: str = Field(min_length=1, max_length=200, description="a taxonomy category id (or the model's label)")
    source: str = Field(default="api", max_length=50)
    ref: str | None = Field(default=None, max_length=200)

    @field_validator("text", "label")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():  # the store refuses it too, and would answer 500
            raise ValueError("must not be blank")
        return value


def _retrain_in_child(model_dir: Path, tolerance: float) -> dict[str, Any]:
    return retrain(model_dir, tolerance=tolerance).to_dict()


class Retrainer:
    """Runs one retrain at a time in a child process: training is minutes of CPU that must not stall routing."""

    def __init__(self, classifier: Classifier, *, tolerance: float) -> None:
        self.classifier = classifier
        self.tolerance = tolerance
        self._running = asyncio.Lock()

    @property
    def busy(self) -> bool:
        return self._running.locked()

    async def run(self) -> dict[str, Any]:
        live = self.classifier.model
        if live is None:
            raise RetrainError("no model directory configured (INBOX_ROUTER_MODEL_DIR): the router runs rules only")
        async with self._running:
            loop = asyncio.get_running_loop()
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                outcome = await loop.run_in_executor(pool, _retrain_in_child, live.dir.root, self.tolerance)
            if outcome["promoted"]:
                await asyncio.to_thread(live.reload)
            return outcome


def _classifier(request: Request) -> Classifier:
    classifier: Classifier = request.app.state.classifier
    return classifier


def _retrainer(request: Request) -> Retrainer:
    retrainer: Retrainer = request.app.state.retrainer
    return retrainer


ClassifierDep = Annotated[Classifier, Depends(_classifier)]
RetrainerDep = Annotated[Retrainer, Depends(_retrainer)]
Reader = Depends(require_role("admin", "supervisor"))
Admin = Annotated[str, Depends(require_role("admin"))]

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get(
    "/model",
    summary="The live model: version, labels, measured thresholds; rules-only when none",
    dependencies=[Reader],
)
async def live_model(classifier: ClassifierDep) -> dict[str, Any]:
    base: dict[str, Any] = {"taxonomy_version": classifier.rules.taxonomy.version}
    if classifier.model is None:
        return {**base, "mode": "rules-only"}
    live = classifier.model
    model = live.model
    corrections = len(await asyncio.to_thread(CorrectionStore(live.dir.corrections).read))
    if model is None:
        return {**base, "mode": "rules-only", "model_dir": str(live.dir.root), "corrections": corrections}
    return {
        **base,
        "mode": "rules+model",
        "model_dir": str(live.dir.root),
        "version": model.version,
        "labels": model.labels,
        "corrections": corrections,
        **{k: model.meta[k] for k in ("created_at", "trained_on", "thresholds", "evaluation") if k in model.meta},
    }


@router.post("/corrections", status_code=status.HTTP_201_CREATED, summary="Keep one operator decision")
async def add_correction(body: CorrectionIn, classifier: ClassifierDep, admin: Admin) -> dict[str, Any]:
    if classifier.model is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "no model directory configured: nothing learns here")
    correction = await asyncio.to_thread(
        record_correction, classifier.model.dir.root, body.text, body.label, source=body.source, ref=body.ref
    )
    log.info("correction_recorded", by=admin, label=body.label, source=body.source)
    return {"text": correction.text, "label": correction.label, "source": correction.source, "at": correction.at}


@router.post("/retrain", summary="Retrain from seed + corrections; the new model goes live only if no worse")
async def retrain_now(retrainer: RetrainerDep, admin: Admin) -> dict[str, Any]:
    log.info("retrain_requested", by=admin)
    if retrainer.busy:
        raise HTTPException(status.HTTP_409_CONFLICT, "a retrain is already running")
    try:
        return await retrainer.run()
    except (RetrainError, DataError, TrainingError) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
