"""The throwaway database servers: where one cannot run, its tests skip and say why."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import databases
from tests.databases import fresh_database, mariadb_server


def test_a_server_that_will_not_start_gives_its_reason_to_the_skip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As under an AppArmor profile that keeps mariadbd to /var/lib/mysql: installed, but
    # the server writes its error to its log and exits.
    server = tmp_path / "mariadbd"
    server.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in --log-error=*) log="${a#--log-error=}";; esac; done\n'
        'echo "[ERROR] Can\'t create/write to file \'ibdata1\' (Errcode: 13)" >> "$log"\n'
        "exit 1\n"
    )
    server.chmod(0o755)
    installer = tmp_path / "mariadb-install-db"
    installer.write_text("#!/bin/sh\nexit 0\n")
    installer.chmod(0o755)
    monkeypatch.setattr(databases, "_mariadb_programs", lambda: (str(installer), str(server)))
    with mariadb_server() as found:
        assert found.url is None
        assert "would not start here: [ERROR] Can't create/write" in found.why_not
        with pytest.raises(pytest.skip.Exception, match="would not start here"):
            fresh_database(found)
