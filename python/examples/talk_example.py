#!/usr/bin/env python3
"""Reproduce the TBMS talk example: answer a question within 50 ms.

Usage:
    python3 examples/talk_example.py "What is the capital of China?"
    python3 examples/talk_example.py --endpoint http://127.0.0.1:8000 \\
        --instance nianjianQA --access-id demo --access-key demo-key "..."

Prints the answer, or "human assist" when no model answered in time.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tbms import TbmsError, tbmsClient, tbmsList, tbmsTry  # noqa: E402


def parse_args(argv=None):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Ask TBMS a question with the talk's model list "
                    "(tloc=50 ms, crossRequest=1, crossLag=10).")
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
        try:
            answer = tbmsTry(client, models, question, tloc=50,
                             crossRequest=1, crossLag=10, priority=0)
        except TbmsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(answer if answer else "human assist")
    return 0


if __name__ == "__main__":
    sys.exit(main())
