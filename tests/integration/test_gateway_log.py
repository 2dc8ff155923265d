"""The gateway's own messages on stderr (startup, config warnings, reload outcomes, shutdown):
with `log.format: json` every line is one JSON object {time, level, logger, msg}; by default
they are text lines. The access log (stdout here) is JSON either way."""

import json
import re
import shutil
import signal
import tempfile
import unittest

from harness import (Echo, Gateway, base_config, free_port, route, to_yaml, wait_until)

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LEVELS = {"trace", "debug", "info", "warning", "error", "critical"}


class GatewayLogFormatTest(unittest.TestCase):

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="portcullis-gateway-log-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.echo = Echo(self.workdir)
        self.addCleanup(self.echo.stop)

    def config(self, fmt=None, **log):
        # "/echo/sub" can never be reached after "/echo": a warning at start.
        cfg = base_config(self.echo.port, routes=[route("echo", path_prefix="/echo"),
                                                  route("hidden", path_prefix="/echo/sub")],
                          log=log)
        if fmt is not None:
            cfg["log"]["format"] = fmt
        return cfg

    def start(self, cfg):
        gateway = Gateway(cfg, self.workdir)
        self.addCleanup(gateway.kill)
        gateway.start()
        return gateway

    def test_json_format_every_stderr_line_is_an_object(self):
        """Start (with a config warning), a request, a refused reload (errors quoting the
        file), an applied reload that warns, a shutdown: every stderr line parses as JSON."""
        gateway = self.start(self.config("json", level="debug"))
        r = gateway.request("GET", "/echo/x", [("X-Request-Id", "json-log-1")])
        self.assertEqual(r.status, 200, str(r))
        gateway.wait_for_access_log("json-log-1")

        broken = self.config("json", level="debug")
        broken["routes"][0]["upstream"] = 'no "such" up'
        gateway.write_config(broken)
        gateway.reload()
        gateway.wait_for_output(r"reload refused", timeout=10)
        moved = gateway.with_ports(self.config("json", level="debug"))
        moved["admin"]["listen"] = f"127.0.0.1:{free_port()}"
        gateway.write_config(text=to_yaml(moved))
        gateway.reload()
        gateway.wait_for_output(r"configuration reloaded", timeout=10)
        gateway.stop()

        lines = gateway.stderr_text().splitlines()
        self.assertGreater(len(lines), 5, gateway.stderr_text())
        messages = []
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError:
                self.fail(f"not a JSON line on stderr: {line!r}")
            self.assertIsInstance(obj, dict, line)
            self.assertEqual(set(obj), {"time", "level", "logger", "msg"}, line)
            self.assertRegex(obj["time"], TIME_RE)
            self.assertIn(obj["level"], LEVELS, line)
            self.assertEqual(obj["logger"], "portcullis", line)
            messages.append((obj["level"], obj["msg"]))
        text = "\n".join(f"{level} {msg}" for level, msg in messages)
        for level, pattern in [("info", r"listening on 127\.0\.0\.1:\d+"),
                               ("warning", r"gateway\.yaml:\d+:\d+: .*route 'hidden' is never reached"),
                               ("error", r"gateway\.yaml:\d+:\d+: .*no \"such\" up"),
                               ("error", r"reload refused"),
                               ("warning", r"admin\.listen and admin\.enabled changes take effect "
                                           r"after a restart"),
                               ("info", r"stopped")]:
            self.assertRegex(text, re.compile(rf"^{level} .*{pattern}", re.M))
        # The access log is unchanged: one JSON object per request on stdout.
        for line in gateway.stdout_text().splitlines():
            self.assertIsInstance(json.loads(line), dict, line)

    def test_text_format_by_default(self):
        """Without log.format (or with `text`) the messages are text lines."""
        for fmt in (None, "text"):
            with self.subTest(format=fmt):
                gateway = self.start(self.config(fmt))
                gateway.stop()
                lines = gateway.stderr_text().splitlines()
                self.assertTrue(lines)
                for line in lines:
                    self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\S+Z (info|warning|error) ")
                self.assertRegex(gateway.stderr_text(), r"(?m) info portcullis .* listening on ")


if __name__ == "__main__":
    unittest.main()
