"""One hand-in's result: its checks in the config's order (points, message, hint), score and challenge metric."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from helpers.course import sandbox

MESSAGE_CHARS = 400  # a student's error message is cut to this length in the feedback


@dataclass
class Grader:
    """Collects one hand-in's checks in the config's order."""

    config: dict
    skip: frozenset = frozenset()  # checks that do not apply (eval_accuracy without an evaluation set)
    checks: dict = field(default_factory=dict)

    def add(self, name: str, passed: bool, message: str = "", hint: str = "") -> bool:
        spec = self.config["checks"][name]
        points = float(spec.get("points", 0))
        message = message.strip()
        if len(message) > MESSAGE_CHARS:
            message = message[:MESSAGE_CHARS - 3] + "..."
        self.checks[name] = {"name": name, "what": spec.get("what", name), "passed": bool(passed),
                             "points": points if passed else 0.0, "max_points": points, "message": message,
                             "hint": "" if passed else hint, "visibility": spec.get("visibility", "visible")}
        return bool(passed)

    def result(self, student: str, metric: dict | None = None, refused: str | None = None, seconds: float = 0.0,
               isolation: str = "", note: str = "") -> dict:
        # Checks never reached (a refused archive) count as failed, with the reason.
        for name in self.config["checks"]:
            if name not in self.checks and name not in self.skip:
                self.add(name, False, refused or note or "not graded")
        checks = [self.checks[n] for n in self.config["checks"] if n in self.checks]
        return {"student": student, "course": self.config["course"], "checks": checks,
                "score": sum(c["points"] for c in checks), "max_score": sum(c["max_points"] for c in checks),
                "metric": metric, "refused": refused, "note": note, "seconds": round(seconds, 2),
                "isolation": isolation}


def accuracy_metric(name: str, set_name: str, predictions: np.ndarray, labels: np.ndarray, public: np.ndarray) -> dict:
    """Accuracy on the whole set, its public part and its private part (the whole set when all is public)."""
    correct = predictions == labels
    private = ~public if (~public).any() else np.ones_like(public)
    return {"name": name, "set": set_name, "value": float(correct.mean()), "public": float(correct[public].mean()),
            "private": float(correct[private].mean()), "n": int(len(labels))}


class Runs:
    """A hand-in's runs of student code: one sandbox each, all within the hand-in's time budget.

    ``run(program, folder, inputs, kind)`` runs a program (``helpers.course.sandbox.run``) with the
    ``<kind>_timeout_s`` and ``<kind>_memory_mb`` limits, cut to what is left of ``handin_budget_s``;
    ``None`` when nothing is left (the message of ``exhausted``).
    """

    def __init__(self, limits: dict, isolation):
        self.limits, self.isolation = limits, isolation
        self.deadline = time.monotonic() + float(limits["handin_budget_s"])

    @property
    def budget(self) -> str:
        return f"the hand-in's time budget of {self.limits['handin_budget_s']:g} s was used up"

    @property
    def exhausted(self) -> str:
        return f"not run: {self.budget}"

    def run(self, program, folder, inputs: dict, kind: str, args: dict | None = None, preload=("numpy",)):
        left = self.deadline - time.monotonic()
        if left < 1:
            return None
        limits, n = self.limits, str(int(self.limits["threads"]))
        env = {"PATH": os.defpath, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
               "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "USER": "student"}
        timeout = float(limits[f"{kind}_timeout_s"])
        return sandbox.run(program, folder=folder, args=args, inputs=inputs, isolation=self.isolation, env=env,
                           timeout=min(timeout, left), timeout_reason=self.budget if left < timeout else "",
                           memory=int(limits[f"{kind}_memory_mb"] * 2**20), output=int(limits["output_mb"] * 2**20),
                           preload=preload, nproc=int(limits["max_processes"]),
                           tmp_bytes=int(limits["tmp_mb"] * 2**20))
