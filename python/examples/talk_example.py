#!/usr/bin/env python3
"""Reproduce the TBMS talk example: answer a question within 50 ms.

The question is asked twice, as in the talk: first with the ranked model
list (embedding, svm, bayes, keysearch), then with the two mixes
(mix1 = max of embedding and svm, mix2 = avg of bayes and keysearch).

Usage:
    export TBMS_ACCESS_ID=nianjianQA TBMS_ACCESS_KEY=$(cat build/keys/nianjianQA.key)
    python3 examples/talk_example.py "What is the capital of China?"
    python3 examples/talk_example.py --endpoint https://tbms.example:8443 \\
        --ca-file tbms-ca.pem --instance nianjianQA \\
        --access-id nianjianQA --access-key-file build/keys/nianjianQA.key "..."

Every request is signed with the access key (docs/security.md).  The key
comes from --access-key, --access-key-file or $TBMS_ACCESS_KEY, in that
order; the id from --access-id or $TBMS_ACCESS_ID.  Prefer the variable or
the file: a key on the command line is visible in the process list.

Prints two lines: the answer of the model list, then the answer of the
mixes; each is "human assist" when nothing answered in time.  A server
that serves the talk's models with keys: `./scripts/run --simulated`
(prints the export line above).
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


ENV_ACCESS_ID = "TBMS_ACCESS_ID"
ENV_ACCESS_KEY = "TBMS_ACCESS_KEY"


def parse_args(argv=None):
    """Parse the command line; credentials fall back to the environment.

    The defaults are resolved after parsing, not given to argparse, so
    that --help never prints the key held in the environment.
    """
    parser = argparse.ArgumentParser(
        description="Ask TBMS a question with the talk's model list, then "
                    "with its mixes (tloc=50 ms, crossRequest=1, "
                    "crossLag=10).")
    parser.add_argument("question", nargs="+", help="the question to ask")
    parser.add_argument("--endpoint", default="http://127.0.0.1:8000",
                        help="server URL, http:// or https:// "
                             "(default: %(default)s)")
    parser.add_argument("--instance", default="nianjianQA",
                        help="instance name (default: %(default)s)")
    parser.add_argument("--access-id",
                        help=f"access id (default: ${ENV_ACCESS_ID})")
    key = parser.add_mutually_exclusive_group()
    key.add_argument("--access-key",
                     help=f"access key (default: ${ENV_ACCESS_KEY}); "
                          "visible in the process list, prefer the "
                          "variable or --access-key-file")
    key.add_argument("--access-key-file", metavar="PATH",
                     help="file holding the access key (a trailing "
                          "newline is ignored)")
    parser.add_argument("--ca-file", metavar="PATH",
                        help="CA or self-signed server certificate (PEM) "
                             "to trust for an https:// endpoint (default: "
                             "the system's CAs)")
    args = parser.parse_args(argv)
    args.access_id = args.access_id or os.environ.get(ENV_ACCESS_ID)
    if not args.access_id:
        parser.error(f"no access id: pass --access-id or set "
                     f"{ENV_ACCESS_ID}")
    args.access_key = resolve_access_key(parser, args)
    return args


def resolve_access_key(parser, args):
    """The key from --access-key, --access-key-file or the environment."""
    if args.access_key:
        return args.access_key
    if args.access_key_file:
        return read_access_key(parser, args.access_key_file)
    if os.environ.get(ENV_ACCESS_KEY):
        return os.environ[ENV_ACCESS_KEY]
    parser.error(f"no access key: pass --access-key-file or --access-key, "
                 f"or set {ENV_ACCESS_KEY}")
    return None  # not reached: parser.error exits


def read_access_key(parser, path):
    """Read a key file like the server does (one trailing newline
    ignored); errors name the file, never its content."""
    try:
        with open(path, encoding="utf-8") as key_file:
            key = key_file.read()
    except OSError as exc:
        parser.error(f"cannot read --access-key-file {path}: "
                     f"{exc.strerror or type(exc).__name__}")
    except UnicodeDecodeError:
        parser.error(f"--access-key-file {path} is not UTF-8 text")
    key = key.removesuffix("\n").removesuffix("\r")
    if not key:
        parser.error(f"--access-key-file {path} is empty")
    return key


def connect(args):
    """Build the client; a bad setting is reported without a traceback
    (the client's messages never contain the key)."""
    try:
        return tbmsClient(args.endpoint, args.access_id, args.access_key,
                          args.instance, ca_file=args.ca_file)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except OSError as exc:  # ssl.SSLError included
        print(f"error: cannot load --ca-file {args.ca_file}: {exc}",
              file=sys.stderr)
    return None


def main(argv=None):
    """Run the talk example; return the process exit code."""
    args = parse_args(argv)
    question = " ".join(args.question)
    client = connect(args)  # tbmsClient(ENDPOINT, ACCESSID, ACCESSKEY, ...)
    if client is None:
        return 2

    with client:
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
