"""The identity contract: clients cannot set identity headers on the way upstream, in any
spelling; Authorization is dropped unless the route forwards it; X-Request-Id is kept when
valid and replaced when not, and the upstream and the client see the same value."""

import unittest

from harness import REQUEST_ID_RE, GatewayTestCase

SPOOF = "spoofed-by-client"

# Every spelling a client might try; a lax server could read '_' as '-' and ignore case.
SPOOFED_NAMES = [
    "X-User-Id", "x-user-id", "X-USER-ID", "x_user_id", "X_User_Id",
    "X-Client-Id", "x_client_id",
    "X-User-Scopes", "x-user-scopes", "X_USER_SCOPES",
    "X-User-Roles", "x_user_roles",
    "X-Auth-Method", "x_auth_method",
    # identity.strip_inbound extras
    "X-Scopes", "x-scopes", "X_Scopes",
    "X-Subject", "x_subject", "X-SUBJECT",
]


class IdentityTest(GatewayTestCase):

    def assert_no_spoofed_header(self, seen, sent_name):
        names = {k for k, _ in seen.headers}
        self.assertNotIn(sent_name, names, f"{sent_name} reached the upstream: {seen.headers}")
        normalised = sent_name.lower().replace("_", "-")
        self.assertNotIn(normalised, seen.header_names_normalised(),
                         f"a header like {sent_name} reached the upstream: {seen.headers}")
        leaked = [(k, v) for k, v in seen.headers if SPOOF in v]
        self.assertEqual(leaked, [], f"spoofed value reached the upstream via {sent_name}")

    def test_each_spoofed_identity_header_is_removed(self):
        """Each identity header, in each spelling, sent alone: the request is served and the
        header does not reach the upstream."""
        for name in SPOOFED_NAMES:
            with self.subTest(header=name):
                seen = self.echo_of("GET", "/echo/id", [(name, f"{SPOOF}-{name}")])
                self.assert_no_spoofed_header(seen, name)

    def test_all_spoofed_identity_headers_at_once(self):
        """All spellings in one request: none reaches the upstream."""
        headers = [(name, f"{SPOOF}-{i}") for i, name in enumerate(SPOOFED_NAMES)]
        seen = self.echo_of("GET", "/echo/id-all", headers)
        for name in SPOOFED_NAMES:
            self.assert_no_spoofed_header(seen, name)

    def test_unauthenticated_route_sends_no_identity(self):
        """On an auth: none route the upstream gets no identity headers at all."""
        seen = self.echo_of("GET", "/echo/anon")
        present = {k.lower() for k, _ in seen.headers}
        for name in ("x-user-id", "x-client-id", "x-user-scopes", "x-user-roles"):
            self.assertNotIn(name, present, f"{name} set on an anonymous request: {seen.headers}")
        # An X-Auth-Method header, if present at all, must not claim an authentication.
        for v in seen.header_all("X-Auth-Method"):
            self.assertIn(v.lower(), ("", "none", "anonymous"))

    def test_ordinary_headers_still_pass(self):
        """Control: similar but unrelated headers are not stripped."""
        seen = self.echo_of("GET", "/echo/ctl", [("X-User-Agent-Extra", "ok"), ("X-Userid-Note", "ok")])
        self.assertEqual(seen.header_all("X-User-Agent-Extra"), ["ok"])
        self.assertEqual(seen.header_all("X-Userid-Note"), ["ok"])

    # --- Authorization --------------------------------------------------------------------------

    def test_authorization_is_dropped_by_default(self):
        """Without forward_authorization the client's Authorization never reaches the upstream."""
        seen = self.echo_of("GET", "/echo/authz", [("Authorization", "Bearer client-token-123")])
        self.assertEqual(seen.header_all("Authorization"), [])
        self.assertFalse(any("client-token-123" in v for _, v in seen.headers))

    def test_authorization_is_kept_with_forward_authorization(self):
        """On a route with forward_authorization: true it arrives unchanged."""
        seen = self.echo_of("GET", "/fwd/authz", [("Authorization", "Bearer client-token-456")])
        self.assertEqual(seen.header_all("Authorization"), ["Bearer client-token-456"])

    # --- X-Request-Id ---------------------------------------------------------------------------

    def assert_request_id_consistent(self, r):
        """The id in the response header is the single id the upstream saw; returns it."""
        self.assertEqual(r.status, 200, str(r))
        returned = r.header_all("X-Request-Id")
        self.assertEqual(len(returned), 1, f"response X-Request-Id: {returned}")
        upstream = r.echo().header_all("X-Request-Id")
        self.assertEqual(upstream, returned, "upstream and client saw different request ids")
        return returned[0]

    def test_valid_request_id_is_kept(self):
        """A valid client X-Request-Id (letters, digits, . _ -) is used upstream and returned."""
        for rid in ("abc-123", "A.b_c-9", "x" * 128):
            with self.subTest(request_id=rid[:20]):
                r = self.get("/echo/rid", [("X-Request-Id", rid)])
                self.assertEqual(self.assert_request_id_consistent(r), rid)

    def test_invalid_request_id_is_replaced(self):
        """An X-Request-Id with other characters, or longer than 128, or empty, is replaced
        by a generated one that the upstream and the client both see."""
        for rid in ("", "has space", "semi;colon", "slash/id", "quote\"id", "y" * 129, "%41bc"):
            with self.subTest(request_id=rid[:20]):
                r = self.get("/echo/rid-bad", [("X-Request-Id", rid)])
                got = self.assert_request_id_consistent(r)
                self.assertNotEqual(got, rid)
                self.assertRegex(got, REQUEST_ID_RE)

    def test_missing_request_id_is_generated_and_unique(self):
        """Without X-Request-Id each request gets its own generated id."""
        ids = {self.assert_request_id_consistent(self.get("/echo/rid-none")) for _ in range(5)}
        self.assertEqual(len(ids), 5, f"generated ids repeat: {ids}")
        for rid in ids:
            self.assertRegex(rid, REQUEST_ID_RE)

    def test_request_id_spelled_differently_is_not_duplicated(self):
        """x-request-id in lower case is the same header: one value upstream, the client's."""
        r = self.get("/echo/rid-lower", [("x-request-id", "lower-case-id")])
        self.assertEqual(self.assert_request_id_consistent(r), "lower-case-id")

    def test_request_id_in_another_spelling_never_reaches_the_upstream(self):
        """X_Request_Id (which an upstream reading '_' as '-' would take for X-Request-Id) is
        removed: the upstream sees one request id, the one the client is answered with."""
        r = self.get("/echo/rid-underscore", [("X-Request-Id", "kept-id"),
                                               ("X_Request_Id", "forged-id")])
        self.assertEqual(self.assert_request_id_consistent(r), "kept-id")
        seen = r.echo()
        spellings = [k for k, _ in seen.headers if k.lower().replace("_", "-") == "x-request-id"]
        self.assertEqual(len(spellings), 1, seen.headers)
        self.assertNotIn("forged-id", [v for _, v in seen.headers])

    def test_error_response_carries_request_id(self):
        """A gateway error (404) returns the request id in the header and in its JSON body."""
        r = self.get("/no-such-route", [("X-Request-Id", "err-id-1")])
        body = self.assert_error_json(r, 404)
        self.assertEqual(body["request_id"], "err-id-1")
        self.assertEqual(r.header("X-Request-Id"), "err-id-1")


if __name__ == "__main__":
    unittest.main()
