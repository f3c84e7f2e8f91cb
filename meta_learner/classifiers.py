"""The candidate meta-classifiers, registered by name, each with a small default grid and an Optuna space.

Adding one is a builder function here:

    @register_classifier("ridge_like", grid=[{"C": 0.1}, {"C": 1.0}],
                         space=lambda trial: {"C": trial.suggest_float("C", 1e-3, 1e2, log=True)})
    def build_ridge_like(params, seed):
        return LogisticRegression(C=params["C"], random_state=seed)

A builder returns an unfitted estimator with ``fit(X, y)`` and ``predict_proba(X)``. ``model_format``
says how artifacts.py stores it: skops for scikit-learn, the library's own JSON/text for XGBoost and
LightGBM. ``complexity`` ranks how much a candidate can overfit (0 = a linear model): on an imported
corpus the simplest candidate within one standard error of the best is deployed (crossval.py). Every
model runs single-threaded: the machine's two cores are shared with the detectors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tribunal_sdk.errors import TribunalError

ModelFormat = Literal["skops", "xgboost", "lightgbm"]
Params = dict[str, Any]
Builder = Callable[[Params, int], Any]


class UnknownClassifier(TribunalError, KeyError):
    """No classifier is registered under that name; the message lists the known ones."""

    status_code = 422
    code = "unknown_classifier"

    def __init__(self, name: str, known: list[str]):
        super().__init__(f"unknown classifier {name!r}; known: {', '.join(known)}")
        self.name = name
        self.known = known


@dataclass(frozen=True)
class ClassifierSpec:
    """One registered candidate."""

    name: str
    build: Builder
    grid: list[Params]
    space: Callable[[Any], Params]  # optuna.Trial -> params
    model_format: ModelFormat = "skops"
    complexity: int = 5


_CLASSIFIERS: dict[str, ClassifierSpec] = {}


def register_classifier(
    name: str,
    grid: list[Params],
    space: Callable[[Any], Params],
    model_format: ModelFormat = "skops",
    complexity: int = 5,
) -> Callable[[Builder], Builder]:
    """Decorator: make ``build(params, seed)`` a candidate named ``name``."""

    def decorate(build: Builder) -> Builder:
        if name in _CLASSIFIERS:
            raise ValueError(f"classifier {name!r} is already registered")
        _CLASSIFIERS[name] = ClassifierSpec(name, build, grid, space, model_format, complexity)
        return build

    return decorate


def classifier_names() -> list[str]:
    return list(_CLASSIFIERS)


def get_classifier(name: str) -> ClassifierSpec:
    try:
        return _CLASSIFIERS[name]
    except KeyError:
        raise UnknownClassifier(name, classifier_names()) from None


# The candidates ------------------------------------------------------------------------------------


@register_classifier(
    "best_detector",
    grid=[{"refit": False}, {"refit": True}],
    space=lambda t: {"refit": t.suggest_categorical("refit", [False, True])},
    complexity=-2,
)
def build_best_detector(params: Params, seed: int) -> Any:
    from meta_learner.best_detector import BestDetectorChain

    # The best detector alone (its own calibration, or refitted); the next best on files it did not answer.
    return BestDetectorChain(refit=params["refit"], C=100.0)


@register_classifier("equal_weight_logit", grid=[{}], space=lambda t: {}, complexity=-1)
def build_equal_weight_logit(params: Params, seed: int) -> Any:
    from meta_learner.equal_weight import EqualWeightLogit

    # A large C: with two parameters there is nothing to shrink, only a scale and an offset to fit.
    return EqualWeightLogit(C=100.0, max_iter=1000, random_state=seed)


@register_classifier(
    "logistic_regression",
    grid=[{"C": c} for c in (0.01, 0.1, 1.0, 10.0)],
    space=lambda t: {"C": t.suggest_float("C", 1e-3, 1e2, log=True)},
    complexity=0,
)
def build_logistic_regression(params: Params, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(), LogisticRegression(C=params["C"], max_iter=2000, random_state=seed)
    )


@register_classifier(
    "random_forest",
    grid=[{"max_depth": d, "min_samples_leaf": leaf} for d in (3, 6) for leaf in (2, 8)],
    space=lambda t: {
        "max_depth": t.suggest_int("max_depth", 2, 10),
        "min_samples_leaf": t.suggest_int("min_samples_leaf", 1, 20),
        "n_estimators": t.suggest_int("n_estimators", 50, 300, step=50),
    },
    complexity=4,
)
def build_random_forest(params: Params, seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=params.get("n_estimators", 100),
        max_depth=params["max_depth"],
        min_samples_leaf=params["min_samples_leaf"],
        random_state=seed,
        n_jobs=1,
    )


@register_classifier(
    "gradient_boosting",
    grid=[{"learning_rate": lr, "max_depth": d} for lr in (0.05, 0.1) for d in (2, 3)],
    space=lambda t: {
        "learning_rate": t.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "max_depth": t.suggest_int("max_depth", 2, 6),
        "n_estimators": t.suggest_int("n_estimators", 50, 300, step=50),
        "subsample": t.suggest_float("subsample", 0.5, 1.0),
    },
)
def build_gradient_boosting(params: Params, seed: int) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    # The classic implementation: on a few thousand rows it fits ~10x faster than the histogram one.
    return GradientBoostingClassifier(
        learning_rate=params["learning_rate"],
        max_depth=params["max_depth"],
        n_estimators=params.get("n_estimators", 100),
        subsample=params.get("subsample", 0.9),
        random_state=seed,
    )


@register_classifier(
    "svm",
    grid=[{"C": c} for c in (0.1, 1.0, 10.0)],
    space=lambda t: {
        "C": t.suggest_float("C", 1e-2, 1e2, log=True),
        "gamma": t.suggest_float("gamma", 1e-3, 1.0, log=True),
    },
    complexity=3,
)
def build_svm(params: Params, seed: int) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    # An SVM gives margins, not probabilities: Platt scaling on internal folds turns them into some
    # (scikit-learn's replacement for the deprecated SVC(probability=True)).
    svc = SVC(C=params["C"], gamma=params.get("gamma", "scale"), random_state=seed)
    return make_pipeline(
        StandardScaler(), CalibratedClassifierCV(svc, method="sigmoid", cv=3, ensemble=False)
    )


@register_classifier(
    "knn",
    grid=[{"n_neighbors": k} for k in (5, 15, 31)],
    space=lambda t: {
        "n_neighbors": t.suggest_int("n_neighbors", 3, 61, step=2),
        "weights": t.suggest_categorical("weights", ["uniform", "distance"]),
    },
    complexity=2,
)
def build_knn(params: Params, seed: int) -> Any:
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    knn = KNeighborsClassifier(n_neighbors=params["n_neighbors"], weights=params.get("weights", "uniform"))
    return make_pipeline(StandardScaler(), knn)


@register_classifier(
    "naive_bayes",
    grid=[{"var_smoothing": v} for v in (1e-9, 1e-3, 1e-1)],
    space=lambda t: {"var_smoothing": t.suggest_float("var_smoothing", 1e-10, 1.0, log=True)},
    complexity=1,
)
def build_naive_bayes(params: Params, seed: int) -> Any:
    from sklearn.naive_bayes import GaussianNB

    return GaussianNB(var_smoothing=params["var_smoothing"])


@register_classifier(
    "xgboost",
    grid=[{"learning_rate": lr, "max_depth": d} for lr in (0.05, 0.1) for d in (2, 3)],
    space=lambda t: {
        "learning_rate": t.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "max_depth": t.suggest_int("max_depth", 2, 6),
        "n_estimators": t.suggest_int("n_estimators", 50, 300, step=50),
        "reg_lambda": t.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        "subsample": t.suggest_float("subsample", 0.5, 1.0),
    },
    model_format="xgboost",
)
def build_xgboost(params: Params, seed: int) -> Any:
    from xgboost import XGBClassifier

    return XGBClassifier(
        n_estimators=params.get("n_estimators", 100),
        learning_rate=params["learning_rate"],
        max_depth=params["max_depth"],
        reg_lambda=params.get("reg_lambda", 1.0),
        subsample=params.get("subsample", 0.9),
        eval_metric="logloss",
        random_state=seed,
        n_jobs=1,
    )


@register_classifier(
    "lightgbm",
    grid=[{"learning_rate": lr, "num_leaves": n} for lr in (0.05, 0.1) for n in (4, 15)],
    space=lambda t: {
        "learning_rate": t.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "num_leaves": t.suggest_int("num_leaves", 3, 31),
        "n_estimators": t.suggest_int("n_estimators", 50, 300, step=50),
        "min_child_samples": t.suggest_int("min_child_samples", 5, 50),
    },
    model_format="lightgbm",
)
def build_lightgbm(params: Params, seed: int) -> Any:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(
        n_estimators=params.get("n_estimators", 100),
        learning_rate=params["learning_rate"],
        num_leaves=params["num_leaves"],
        min_child_samples=params.get("min_child_samples", 10),
        subsample_seed=seed,
        random_state=seed,
        n_jobs=1,
        verbose=-1,
    )
