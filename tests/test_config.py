"""The one reader of the environment: Config.from_env; everything else gets its values as arguments."""
import os
import re

import pytest

from styletransfer.config import Config
from styletransfer.limits import Limits

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "styletransfer")


def test_defaults_and_the_variables_that_change_them(tmp_path):
    assert Config.from_env({}) == Config()
    config = Config.from_env({"STUDIO_REDIS_URL": "redis://h:6379/0", "STUDIO_SECRET_KEY": "s",
                              "STUDIO_MODELS_DIR": str(tmp_path), "STUDIO_STATE_DIR": str(tmp_path / "state"),
                              "STYLETRANSFER_DEVICE": "cpu", "HOST": "0.0.0.0", "PORT": "9000",
                              "STUDIO_MAX_SIZE": "300", "STUDIO_SESSION_ID": ""})
    assert (config.redis_url, config.secret_key, config.models_dir, config.device) == (
        "redis://h:6379/0", "s", str(tmp_path), "cpu")
    assert (config.host, config.port, config.state_dir) == ("0.0.0.0", 9000, str(tmp_path / "state"))
    assert config.limits == Limits(max_size=300)
    assert Config.from_env({"STUDIO_REDIS_URL": ""}).redis_url is None  # empty is unset


@pytest.mark.parametrize("env,message", [({"PORT": "http"}, "PORT must be a port number"),
                                         ({"STUDIO_MAX_SIZE": "lots"}, "STUDIO_MAX_SIZE must be a number")])
def test_a_malformed_variable_is_one_clear_error(env, message):
    with pytest.raises(ValueError, match=message):
        Config.from_env(env)


def test_nothing_else_in_the_product_reads_the_environment():
    readers = []
    for folder, _, files in os.walk(PACKAGE):
        if os.path.basename(folder) == "tools":  # the tools start servers with environments of their own
            continue
        for name in files:
            path = os.path.join(folder, name)
            if name.endswith(".py") and path != os.path.join(PACKAGE, "config.py"):
                if re.search(r"os\.environ|getenv\(", open(path).read()):
                    readers.append(os.path.relpath(path, PACKAGE))
    assert readers == []
