#!/usr/bin/env python3
"""Reproduce the TBMS talk example: answer a question within 50 ms.

The question is asked twice, as in the talk: first with the ranked model
list (embedding, svm, bayes, keysearch), then with the two mixes
(mix1 = max of embedding and svm, mix2 = avg of bayes and keysearch).

Usage:
    python3 examples/talk_example.py "What is the capital of China?"
    python3 examples/talk_example.py --endpoint http://127.0.0.1:8000 \\
        --instance nianjianQA --access-id demo --access-key demo-key "..."

Prints two lines: the answer of the model list, then the answer of the
mixes; each is "human assist" when nothing answered in time.  A server
that serves the talk's models: `tbms serve --simulate
embedding=35,svm=25,bayes=15,keysearch=5`.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tbms import (  # noqa: E402
    TbmsError,
    tbmsClient,
    tbmsList,
    tbmsMixList,
    tbmsMixTry,
    tbmsTry,
)


def parse_args(argv=None):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Ask TBMS a question with the talk's model list, then "
                    "with its mixes (tloc=50 ms, crossRequest=1, "
                    "crossLag=10).")
    parser.add_argument("question", nargs="+", help="the question to ask")
    parser.add_argument("--endpoint", default="http://127.0.0.1:8000",
                        help="server URL (default: %(default)s)")
    parser.add_argument("--instance", default="nianjianQA",
                        help="instance name (default: %(default)s)")
    parser.add_argument("--access-id", default="demo",
                        help="access id (default: %(default)s)")
    parser.add_argument("--access-key", default="demo-key",
                        help="access key (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv=None):
    """Run the talk example; return the process exit code."""
    args = parse_args(argv)
    ENDPOINT, INSTANCENAME = args.endpoint, args.instance  # noqa: N806
    ACCESSID, ACCESSKEY = args.access_id, args.access_key  # noqa: N806
    question = " ".join(args.question)

    with tbmsClient(ENDPOINT, ACCESSID, ACCESSKEY, INSTANCENAME) as client:
        models = tbmsList({"embedding": {"est": 35}, "svm": {"est": 25},
                           "bayes": {"est": 15}, "keysearch": {"est": 5}})
        mixes = tbmsMixList(
            {"mix1": [{"embedding": {"est": 35}}, {"svm": {"est": 25}},
                      {"mix": "max"}],
             "mix2": [{"bayes": {"est": 15}}, {"keysearch": {"est": 5}},
                      {"mix": "avg"}]})
        try:
            answer = tbmsTry(client, models, question, tloc=50,
                             crossRequest=1, crossLag=10, priority=0)
            print(answer if answer else "human assist")
            answer = tbmsMixTry(client, mixes, question, tloc=50,
                                crossRequest=1, crossLag=10)
            print(answer if answer else "human assist")
        except TbmsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
