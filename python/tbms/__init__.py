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

from . import client as _client
from .client import *  # noqa: F401,F403  (the public names are client.__all__)

__all__ = list(_client.__all__)

__version__ = "0.1.0"
