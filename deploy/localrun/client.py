"""A small HTTP client of the public API (used by the demo seed, the
end-to-end tests and the benchmarks)."""
from __future__ import annotations

import requests


class ApiError(Exception):
    def __init__(self, response):
        self.status = response.status_code
        try:
            self.body = response.json()
        except ValueError:
            self.body = {"raw": response.text[:500]}
        super().__init__(f"{response.request.method} {response.url} -> {self.status}: {self.body}")


class Api:
    def __init__(self, base_url: str, token: str | None = None, session: requests.Session | None = None):
        self.base = base_url.rstrip("/")
        self.token = token
        self.http = session or requests.Session()
        self.user = None

    def request(self, method: str, path: str, *, expect=None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        url = path if path.startswith("http") else f"{self.base}/api/v1{path}"
        resp = self.http.request(method, url, headers=headers, timeout=30, **kwargs)
        if expect is not None:
            allowed = expect if isinstance(expect, (tuple, list, set)) else (expect,)
            if resp.status_code not in allowed:
                raise ApiError(resp)
        return resp

    def call(self, method: str, path: str, expect=(200, 201, 202, 204), **kwargs):
        resp = self.request(method, path, expect=expect, **kwargs)
        return resp.json() if resp.content else None

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.call("POST", path, json=json, **kw)

    def put(self, path, json=None, **kw):
        return self.call("PUT", path, json=json, **kw)

    def login(self, login: str, password: str) -> "Api":
        """A new client logged in as ``login``."""
        answer = Api(self.base, session=self.http).post("/auth/login", {"login": login, "password": password}, expect=200)
        api = Api(self.base, answer["access_token"], session=self.http)
        api.user = answer["user"]
        return api
