"""TBMS (time-based model serving) Python client.

Talk-style API::

    import os
    from tbms import (tbmsClient, tbmsList, tbmsMixList, tbmsMixTry,
                      tbmsTaskTry, tbmsTry)

    client = tbmsClient("http://127.0.0.1:8000",
                        os.environ["TBMS_ACCESS_ID"],
                        os.environ["TBMS_ACCESS_KEY"], "nianjianQA")
    models = tbmsList({"embedding": {"est": 35}, "svm": {"est": 25}})
    answer = tbmsTry(client, models, "question?", tloc=50)
    mixes = tbmsMixList({"mix1": [{"embedding": {"est": 35}},
                                  {"svm": {"est": 25}}, {"mix": "max"}]})
    answer = tbmsMixTry(client, mixes, "question?", tloc=50)
    answer = tbmsTaskTry(client, "qa", "question?")  # a server-side task

PEP 8 API: :class:`Client`, :func:`model_list`, :func:`mix_list`,
:func:`try_models`, :func:`try_mixes`, :func:`try_task` (the tries return a
:class:`TryResult`).

asyncio API (:mod:`tbms.aio`): :class:`AsyncClient` has the methods of
:class:`Client` as coroutines, over a bounded pool of keep-alive
connections; the module-level tries have async twins
(:func:`async_try_models`, ..., :func:`tbmsAsyncTry`, ...)::

    import asyncio
    from tbms import AsyncClient, tbmsAsyncTry

    async def main():
        async with AsyncClient("http://127.0.0.1:8000",
                               os.environ["TBMS_ACCESS_ID"],
                               os.environ["TBMS_ACCESS_KEY"],
                               "nianjianQA") as client:
            answers = await asyncio.gather(
                tbmsAsyncTry(client, models, "first?", tloc=50),
                tbmsAsyncTry(client, models, "second?", tloc=50))
            result = await client.try_task("qa", "question?")

    asyncio.run(main())

Every request is signed with the access key (``TBMS-HMAC-SHA256``, see
``docs/security.md``); ``https://`` endpoints take ``ca_file`` or
``ssl_context``.
"""

from . import aio as _aio
from . import client as _client
from .aio import *  # noqa: F401,F403  (the public names are aio.__all__)
from .client import *  # noqa: F401,F403  (the public names are client.__all__)

__all__ = list(_client.__all__) + list(_aio.__all__)

__version__ = "0.1.0"
