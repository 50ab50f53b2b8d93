"""End to end: the loopback fleet (deploy/fleet/fleet.py) — 2 brokers behind
a real HAProxy and 3 workers — under bounded load: a worker killed (no try
lost, every try answered within tloc, by the brokers' local fallback where
the worker died under it; back, it takes traffic again), a worker added while serving (it takes
traffic within seconds), and the brokers rolled one at a time through HAProxy
(zero failed requests).
Needs TBMS_BIN, PYTHONPATH=python and haproxy (scripts/setup installs it)."""

import os
import sys
import tempfile
import shutil
import threading
import time
import unittest
import urllib.request

import tbms
from test_house import write, simulated_model

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "fleet"))
import fleet as fleet_module  # noqa: E402

TLOC = 400  # ms: generous for a loaded CI box; what is asserted is that every try is answered in it
SECRET = "the-fleet-instance-key-0123"
MAX_TRIES = 3000  # per load: bounds each test whatever the box's speed


class Load:
    """Callers trying the fleet's task through HAProxy until stopped (or MAX_TRIES)."""

    def __init__(self, endpoint, callers=3):
        self.endpoint, self.results, self.errors = endpoint, [], []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.call) for _ in range(callers)]
        for t in self.threads:
            t.start()

    def call(self):
        with tbms.Client(self.endpoint, "shop", SECRET, "shop", timeout=10) as client:
            while not self.stopping.is_set() and len(self.results) + len(self.errors) < MAX_TRIES:
                try:
                    r = client.try_task("qa", "is this spam?")
                    with self.lock:
                        self.results.append(r)
                except Exception as e:  # a failed request is what the tests count
                    with self.lock:
                        self.errors.append(repr(e))

    def count(self):
        return len(self.results) + len(self.errors)

    def wait_for(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while self.count() < n and time.monotonic() < deadline:
            time.sleep(0.01)  # waits for the callers' progress, bounded above

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=30)
        return self


def batch_items(server, key):
    """Items a worker has run (its /metrics, with the brokers' admin key there)."""
    path = "/metrics"
    request = urllib.request.Request("http://%s%s" % (server.address, path), headers={
        "Authorization": tbms.authorization_header("broker", key, "GET", path, b"")})
    with urllib.request.urlopen(request, timeout=5) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("tbms_batch_items_total"))


class FleetTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tbms_fleet_test_")
        house = os.path.join(self.root, "source")
        simulated_model(house, "top", 20, {1: "base_ms = 10\n"}, "replicas = 2\n")
        simulated_model(house, "fallback", 2, {1: "base_ms = 1\n"})
        write(os.path.join(house, "instances.toml"),
              '[instances.shop]\nkeys = [{ id = "shop", secret_env = "TBMS_FLEET_SHOP_KEY" }]\n'
              '[instances.shop.tasks.qa]\nmodels = ["top", "fallback"]\ntloc = %d\n' % TLOC)
        env = {**os.environ, "TBMS_FLEET_SHOP_KEY": SECRET}
        self.fleet = fleet_module.Fleet(house, brokers=2, workers=3, tbms_bin=os.environ["TBMS_BIN"],
                                        root=os.path.join(self.root, "fleet"), env=env, local=["fallback"])
        self.fleet.start()
        self.key = self.fleet.env["TBMS_BROKER_KEY"]

    def tearDown(self):
        self.fleet.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def assert_all_answered_in_time(self, load):
        self.assertEqual(load.errors, [])
        self.assertGreater(len(load.results), 0)
        for r in load.results:
            self.assertIsNotNone(r.answer, r)
            self.assertLessEqual(r.elapsed_ms, TLOC, r)

    def until_takes_traffic(self, worker, load, timeout=10):
        before, deadline = batch_items(worker, self.key), time.monotonic() + timeout
        while batch_items(worker, self.key) <= before and time.monotonic() < deadline:
            time.sleep(0.05)  # polls the worker's counters for an event, bounded above
        return batch_items(worker, self.key) > before

    def test_a_killed_worker_loses_no_try_and_takes_traffic_again(self):
        load = Load(self.fleet.endpoint)
        load.wait_for(50)
        self.fleet.kill_worker(0)
        load.wait_for(load.count() + 200)
        self.fleet.restart_worker(0)
        back = self.until_takes_traffic(self.fleet.workers[0], load)
        load.stop()
        self.assert_all_answered_in_time(load)
        self.assertTrue(back, "the restarted worker ran no batch within 10 s")
        self.assertTrue(any(r.model == "top" for r in load.results))

    def test_a_worker_added_while_serving_takes_traffic_within_seconds(self):
        load = Load(self.fleet.endpoint)
        load.wait_for(50)
        added = self.fleet.add_worker()
        took = self.until_takes_traffic(added, load)
        load.stop()
        self.assert_all_answered_in_time(load)
        self.assertTrue(took, "the added worker ran no batch within 10 s")

    def test_rolling_the_brokers_through_haproxy_fails_no_request(self):
        load = Load(self.fleet.endpoint)
        load.wait_for(50)
        rolled = []
        self.fleet.roll_brokers(progress=lambda b: rolled.append((b.name, load.count())))
        load.wait_for(load.count() + 50)
        load.stop()
        self.assertEqual([name for name, _ in rolled], ["broker0", "broker1"])
        self.assert_all_answered_in_time(load)
        self.assertGreater(rolled[-1][1], rolled[0][1], "no try ran while the brokers rolled")


if __name__ == "__main__":
    unittest.main()
