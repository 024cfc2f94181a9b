"""The proxy profile catalogue: the built-in files, the schema's error messages (each names the
file, the key and the valid values), extra folders, and building the mitmproxy addons."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_wsharness.errors import ProfileError, UnknownChoiceError
from pytest_wsharness.profiles import (
    BEHAVIOURS,
    Behaviour,
    Catalogue,
    Expect,
    Profile,
    builtin_dir,
    load_profile,
)

HEAD = 'summary = "s"\nexpect = "fallback"\n'
BUILTIN = {
    "compliant": (Expect.DELIVERED, ()),
    "header-stripping": (Expect.FALLBACK, ("strip-upgrade-headers",)),
    "firewall": (Expect.FALLBACK, ("deny-upgrade",)),
    "firewall-reset": (Expect.FALLBACK, ("reset-upgrade",)),
}


def test_builtin_dir_holds_the_catalogue() -> None:
    # Where it is (checkout or installed wheel) is tests/test_packaging.py's business.
    assert builtin_dir().is_dir()
    assert {f"{name}.toml" for name in BUILTIN} <= {p.name for p in builtin_dir().glob("*.toml")}


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_profiles(name: str) -> None:
    profile = Catalogue().get(name)
    expect, uses = BUILTIN[name]
    assert profile.name == name
    assert profile.expect is expect
    assert tuple(b.use for b in profile.behaviours) == uses
    assert profile.summary
    assert profile.models
    assert profile.path == builtin_dir() / f"{name}.toml"


def test_catalogue_lists_and_iterates_sorted() -> None:
    catalogue = Catalogue()
    assert set(BUILTIN) <= set(catalogue.names())
    assert catalogue.names() == sorted(catalogue.names())
    assert [p.name for p in catalogue] == catalogue.names()
    assert len(catalogue) == len(catalogue.names())
    assert Catalogue().get("firewall").behaviours == (Behaviour("deny-upgrade", {"status": 403}),)


def test_get_unknown_lists_every_name() -> None:
    catalogue = Catalogue()
    with pytest.raises(UnknownChoiceError) as info:
        catalogue.get("nginx-broken")
    assert info.value.value == "nginx-broken"
    assert str(info.value) == (
        f"unknown proxy profile 'nginx-broken'; valid choices: {', '.join(catalogue.names())}"
    )


USES = ", ".join(BEHAVIOURS)
DENY = '[[behaviours]]\nuse = "deny-upgrade"\n'


@pytest.mark.parametrize(
    ("text", "key", "fragments"),
    [
        pytest.param('summary = "unterminated\n', "(file)", ["is not valid TOML"], id="bad-toml"),
        pytest.param(
            HEAD + "colour = 1\n",
            "colour",
            [
                "unknown key",
                "summary, expect, kind, models, behaviours, faults, fault_scope, server",
            ],
            id="unknown-key",
        ),
        pytest.param('expect = "fallback"\n', "summary", ["is required"], id="no-summary"),
        pytest.param('summary = "s"\n', "expect", ["is required"], id="no-expect"),
        pytest.param("summary = 1\n", "summary", ["must be a string"], id="summary-not-str"),
        pytest.param(
            'summary = "s"\nexpect = "maybe"\n',
            "expect",
            ["'maybe'", "valid values: delivered, fallback"],
            id="bad-expect",
        ),
        pytest.param(HEAD + "models = [1]\n", "models", ["array of strings"], id="models-not-str"),
        pytest.param(HEAD + 'models = "m"\n', "models", ["must be an array"], id="models-not-list"),
        pytest.param(
            HEAD + "[behaviours]\nuse = 1\n",
            "behaviours",
            ["must be an array"],
            id="behaviours-table",
        ),
        pytest.param(
            HEAD + 'behaviours = ["deny-upgrade"]\n',
            "behaviours[0]",
            ["must be a table with a 'use' key"],
            id="behaviour-not-table",
        ),
        pytest.param(
            HEAD + '[[behaviours]]\nuse = "nope"\n',
            "behaviours[0].use",
            ["'nope'", f"valid values: {USES}"],
            id="unknown-use",
        ),
        pytest.param(
            HEAD + "[[behaviours]]\nstatus = 403\n",
            "behaviours[0].use",
            ["None", f"valid values: {USES}"],
            id="missing-use",
        ),
        pytest.param(
            HEAD + DENY + "colour = 1\n",
            "behaviours[0].colour",
            ["unknown parameter of deny-upgrade", "valid: status"],
            id="unknown-param",
        ),
        pytest.param(
            HEAD + '[[behaviours]]\nuse = "reset-upgrade"\nstatus = 403\n',
            "behaviours[0].status",
            ["unknown parameter of reset-upgrade", "valid: none"],
            id="param-of-paramless",
        ),
        pytest.param(
            HEAD + DENY + 'status = "403"\n',
            "behaviours[0].status",
            ["must be an integer"],
            id="str",
        ),
        pytest.param(
            HEAD + DENY + "status = true\n",
            "behaviours[0].status",
            ["must be an integer"],
            id="bool",
        ),
        pytest.param(
            HEAD + DENY + "status = 700\n",
            "behaviours[0].status",
            ["must be <= 599, got 700"],
            id="status-high",
        ),
        pytest.param(
            HEAD + '[[behaviours]]\nuse = "strip-upgrade-headers"\n' + DENY + "status = 399\n",
            "behaviours[1].status",
            ["must be >= 400, got 399"],
            id="status-low-second",
        ),
    ],
)
def test_malformed_profile(tmp_path: Path, text: str, key: str, fragments: list[str]) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert (info.value.path, info.value.key) == (str(path), key)
    assert message.startswith(f"bad proxy profile {path}: {key}: ")
    for fragment in fragments:
        assert fragment in message
    # The same file in an extra folder fails the whole catalogue with the same error.
    with pytest.raises(ProfileError, match=r"broken\.toml"):
        Catalogue([tmp_path])


def test_unreadable_profile(tmp_path: Path) -> None:
    path = tmp_path / "binary.toml"
    path.write_bytes(b"summary = '\xff'\n")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert (info.value.key, info.value.path) == ("(file)", str(path))
    assert "cannot be read" in str(info.value)


def test_duplicate_name_across_folders(tmp_path: Path) -> None:
    (tmp_path / "compliant.toml").write_text(HEAD, encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        Catalogue([tmp_path])
    assert info.value.path == str(tmp_path / "compliant.toml")
    assert info.value.key == "(name)"
    assert f"'compliant' is taken by {builtin_dir() / 'compliant.toml'}" in str(info.value)


def test_duplicate_name_between_extra_folders(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "mine.toml").write_text(HEAD, encoding="utf-8")
    with pytest.raises(ProfileError, match=r"'mine' is taken by .*a/mine\.toml") as info:
        Catalogue([tmp_path / "a", tmp_path / "b"])
    assert info.value.path == str(tmp_path / "b" / "mine.toml")


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_extra_dir_must_be_a_folder(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "profiles"
    if kind == "file":
        target.write_text(HEAD, encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        Catalogue([target])
    assert (info.value.path, info.value.key) == (str(target), "(folder)")
    assert "is not a folder of profile files" in str(info.value)


def test_extra_dirs_add_profiles(tmp_path: Path) -> None:
    path = tmp_path / "strict-waf.toml"
    path.write_text(
        'summary = "WAF"\nexpect = "fallback"\nmodels = ["a", "b"]\n' + DENY + "status = 451\n",
        encoding="utf-8",
    )
    (tmp_path / "notes.txt").write_text("not a profile", encoding="utf-8")
    catalogue = Catalogue([tmp_path])
    assert len(catalogue) == len(Catalogue()) + 1
    assert catalogue.get("strict-waf") == Profile(
        name="strict-waf",
        summary="WAF",
        expect=Expect.FALLBACK,
        behaviours=(Behaviour("deny-upgrade", {"status": 451}),),
        models=("a", "b"),
        path=path,
    )


@pytest.mark.parametrize(
    ("behaviour", "cls"),
    [
        (Behaviour("strip-upgrade-headers"), "StripUpgradeHeaders"),
        (Behaviour("deny-upgrade"), "DenyUpgrade"),
        (Behaviour("deny-upgrade", {"status": 451}), "DenyUpgrade"),
        (Behaviour("reset-upgrade"), "ResetUpgrade"),
    ],
)
def test_behaviour_builds_its_addon(behaviour: Behaviour, cls: str) -> None:
    addon = behaviour.build()
    assert type(addon).__name__ == cls
    assert f"{type(addon).__module__}:{cls}" == BEHAVIOURS[behaviour.use].target
    if behaviour.use == "deny-upgrade":
        assert vars(addon)["status"] == behaviour.params.get("status", 403)
    assert behaviour.build() is not addon


def test_profile_builds_new_addons_in_order() -> None:
    profile = Profile(
        "p",
        "s",
        Expect.FALLBACK,
        (Behaviour("strip-upgrade-headers"), Behaviour("deny-upgrade", {"status": 403})),
    )
    addons = profile.build_addons()
    assert [type(a).__name__ for a in addons] == ["StripUpgradeHeaders", "DenyUpgrade"]
    assert Catalogue().get("compliant").build_addons() == []
