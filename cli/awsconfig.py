"""What `inferpipe daemon env` hands to AWS tools: environment exports, or a named profile in the
AWS shared config and credentials files (for scripts that also use real AWS with other keys).

botocore reads a service-specific endpoint from AWS_ENDPOINT_URL_<SERVICE ID> (SAGEMAKER,
SAGEMAKER_RUNTIME) or from a profile's `services` section (keys `sagemaker`, `sagemaker_runtime`),
so neither boto3, the AWS CLI nor the SageMaker SDK needs an endpoint_url in code.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from inferpipe.core.credentials import Credentials, write_atomic

# A session token left in the shell from real AWS would be sent along with these keys.
STALE_VARIABLES = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_HEADER = re.compile(r"^\s*\[\s*(.+?)\s*\]\s*$")


def exports(url: str, creds: Credentials) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_SAGEMAKER": url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": url,
        "AWS_ACCESS_KEY_ID": creds.access_key_id,
        "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
        "AWS_DEFAULT_REGION": creds.region,
        "AWS_REGION": creds.region,
    }


def shell(variables: dict[str, str]) -> str:
    lines = [f"export {k}={shlex.quote(v)}" for k, v in variables.items()]
    lines.append(f"unset {' '.join(STALE_VARIABLES)}")
    return "\n".join(lines) + "\n"


def config_file() -> Path:
    return Path(os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()


def credentials_file() -> Path:
    return Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials").expanduser()


def profile_sections(profile: str, url: str, creds: Credentials) -> tuple[dict[str, str], dict[str, str]]:
    """({config section header: body}, {credentials section header: body}) for `profile`."""
    header = "default" if profile == "default" else f"profile {profile}"
    services = f"inferpipe-{profile}"
    config = {
        header: f"region = {creds.region}\nservices = {services}\n",
        f"services {services}": (f"sagemaker =\n  endpoint_url = {url}\nsagemaker_runtime =\n  endpoint_url = {url}\n"),
    }
    keys = {profile: f"aws_access_key_id = {creds.access_key_id}\naws_secret_access_key = {creds.secret_access_key}\n"}
    return config, keys


def render(sections: dict[str, str]) -> str:
    return "\n".join(f"[{header}]\n{body}" for header, body in sections.items())


def replace_sections(text: str, sections: dict[str, str]) -> str:
    """`text` (an INI file) without the sections named in `sections`, followed by them. Line-based
    so the user's other sections and comments are kept as they were."""
    kept: list[str] = []
    dropping = False
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            dropping = m.group(1) in sections
        if not dropping:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    head = "\n".join(kept) + "\n\n" if kept else ""
    return head + render(sections)


def write(path: Path, text: str, mode: int) -> None:
    """Replace `path` with `text` in one step, with `mode` from the new file's creation on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text, mode)


def write_profile(profile: str, url: str, creds: Credentials) -> tuple[Path, Path]:
    config, keys = profile_sections(profile, url, creds)
    cfg, cred = config_file(), credentials_file()
    old_cfg = cfg.read_text() if cfg.exists() else ""
    old_mode = cfg.stat().st_mode & 0o777 if cfg.exists() else 0o644
    write(cfg, replace_sections(old_cfg, config), old_mode)
    old_cred = cred.read_text() if cred.exists() else ""
    write(cred, replace_sections(old_cred, keys), 0o600)  # it holds secrets: owner-only, as `aws configure` does
    return cfg, cred
