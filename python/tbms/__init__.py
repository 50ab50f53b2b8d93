"""TBMS (time-based model serving) Python client.

Talk-style API::

    from tbms import tbmsClient, tbmsList, tbmsTry

    client = tbmsClient("http://127.0.0.1:8000", "demo", "demo-key",
                        "nianjianQA")
    models = tbmsList({"embedding": {"est": 35}, "svm": {"est": 25}})
    answer = tbmsTry(client, models, "question?", tloc=50)

PEP 8 API: :class:`Client`, :func:`model_list`, :func:`try_models`
(returns a :class:`TryResult`).
"""

from .client import (
    ACCESS_ID_HEADER,
    DEFAULT_HEALTH_TIMEOUT_S,
    DEFAULT_TIMEOUT_MARGIN_S,
    Attempt,
    Client,
    ModelSpec,
    TbmsBadRequest,
    TbmsError,
    TbmsHTTPError,
    TbmsTimeout,
    TbmsTransportError,
    TryResult,
    model_list,
    tbmsClient,
    tbmsList,
    tbmsTry,
    try_models,
)

__all__ = [
    "ACCESS_ID_HEADER",
    "DEFAULT_HEALTH_TIMEOUT_S",
    "DEFAULT_TIMEOUT_MARGIN_S",
    "Attempt",
    "Client",
    "ModelSpec",
    "TbmsBadRequest",
    "TbmsError",
    "TbmsHTTPError",
    "TbmsTimeout",
    "TbmsTransportError",
    "TryResult",
    "model_list",
    "tbmsClient",
    "tbmsList",
    "tbmsTry",
    "try_models",
]

__version__ = "0.1.0"
