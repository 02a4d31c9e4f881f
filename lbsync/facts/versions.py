"""Exchange Server versions lbsync knows, in release order, and the facts that tell them apart.

Sources:
 [SE-RTM]   microsoft/Get-ExchangeBuildNumber, ExchangeBuildNumbers.csv (commit 110255280e91...):
            "Exchange SE RTM,15.2.2562.17,7/1/2025,KB5047155,..."
 [SE-CODE]  Microsoft Learn, "What's discontinued in Exchange Server SE" (2025-06-16): "Exchange Server Subscription
            Edition (SE) RTM is code equivalent to Exchange Server 2019 CU15, except for the following changes: The
            License agreement ... The product name ... The build number"; "New changes are introduced starting with
            the Exchange Server SE Cumulative Update (CU) 1."
 [SE-BUILD] microsoft/CSS-Exchange, Shared/Get-ExchangeBuildVersionInformation.ps1 (commit 01bad118...): a server
            with version 15.2 and build >= 2562 is Exchange SE; lower 15.2 builds are Exchange 2019. Up to the
            newest build it knows ("Sep26SUv2", 15.2.2562.53) every SE build is RTM plus an update: no SE CU1 yet.
 [SE-UPG]   Microsoft Learn, "Upgrade to Exchange Server SE": "Exchange Server SE supports an in-place upgrade from
            Exchange Server 2019 Cumulative Update (CU) 14 or 15 ... similar to the procedure for applying cumulative
            updates"; "The installation process for Exchange Server SE Release to Manufacturing (RTM) prevents
            coexistence with Exchange Server 2013"; "The setup procedure for Exchange Server SE CU2 will prohibit
            coexistence with any version of Exchange Server that is not supported at the time of release."
 [REQ19]    Microsoft Learn, "Exchange Server system requirements" (Supported coexistence scenarios for Exchange
            2019): "Exchange 2010 and earlier versions | Not supported"; 2013 "Supported with Exchange 2013
            Cumulative Update 21 (CU21) or later"; 2016 "Supported with Exchange 2016 CU11 or later".
 [REQ16]    same page, Exchange 2016: "Exchange 2007 and earlier versions | Not supported"; 2010 "Supported with
            Update Rollup 11 for Exchange 2010 SP3 or later"; 2013 "Supported with Exchange 2013 Cumulative Update
            10 or later".
 [REQ13]    Exchange 2013 with 2007 and 2010: Exchange Team Blog, "Client Connectivity in an Exchange 2013
            Coexistence Environment" (2014-03-12, cited as [CC] in facts.coexistence). The minimum updates of the
            older servers were not looked up here.
 [SUP]      Microsoft Learn, "Exchange Server supportability matrix": "Exchange 2007 reached end of support on April 11,
            2017".
 [EOS]      CSS-Exchange Get-ExchangeBuildVersionInformation.ps1 (extendedSupportDate): 2013 "04/11/2023", 2016
            and 2019 "10/14/2025"; SE follows the Modern Lifecycle Policy (Exchange Team Blog, "Exchange Server
            Roadmap Update", 2024-05-07).
"""

from __future__ import annotations

from enum import IntEnum


class ExVersion(IntEnum):
    """An Exchange Server version. Ordered by release; SE's number only orders it after 2019 (released 2025): the
    model, the plan's JSON and every generated file spell it `SE`."""
    E2007 = 2007
    E2010 = 2010
    E2013 = 2013
    E2016 = 2016
    E2019 = 2019
    SE = 2025

    @property
    def label(self) -> str:
        return "SE" if self is ExVersion.SE else str(int(self))

    @property
    def json(self) -> int | str:
        """As the model writes it: 2019, or "SE"."""
        return "SE" if self is ExVersion.SE else int(self)

    def __str__(self) -> str:
        return self.label

    def __format__(self, spec: str) -> str:
        return format(self.label, spec)


SE = ExVersion.SE
MODEL_VALUES: list[int | str] = [v.json for v in ExVersion]


def json_value(version: int) -> int | str:
    """A version as the model and lbsync's JSON write it (2019, "SE")."""
    return version.json if isinstance(version, ExVersion) else version


def parse(value: object) -> ExVersion:
    """The model's value (2019, "SE") as an ExVersion; ValueError for anything else."""
    if value == "SE":
        return SE
    if isinstance(value, int) and not isinstance(value, bool) and value in ExVersion._value2member_map_ \
            and value != SE.value:
        return ExVersion(value)
    raise ValueError(f"not an Exchange version: {value!r}")


def release(version: int, cu: int | None) -> str:
    """How people name a release: "SE RTM", "SE CU1", "2019 CU15", "2016" (no CU given)."""
    label = str(version)
    if cu is None:
        return label
    return f"{label} RTM" if version == SE and cu == 0 else f"{label} CU{cu}"


# SE is told from 2019 by its build [SE-BUILD]; the first SE build [SE-RTM].
SE_FIRST_BUILD = (15, 2, 2562)
# SE's update numbering: RTM (cu 0 in the model), then CU1, CU2 ... [SE-CODE]; newest known release [SE-BUILD].
SE_NEWEST_KNOWN = "RTM (15.2.2562.x, security and hotfix updates up to Sep26SUv2 = 15.2.2562.53)"
# An in-place upgrade to SE starts from Exchange 2019 CU14 or CU15 [SE-UPG].
IN_PLACE_FROM = (ExVersion.E2019, (14, 15))

# The versions an organisation whose newest version is the key may also run [REQ13] [REQ16] [REQ19] [SE-UPG].
COEXISTS_WITH: dict[ExVersion, frozenset[ExVersion]] = {
    ExVersion.E2013: frozenset({ExVersion.E2007, ExVersion.E2010, ExVersion.E2013}),
    ExVersion.E2016: frozenset({ExVersion.E2010, ExVersion.E2013, ExVersion.E2016}),
    ExVersion.E2019: frozenset({ExVersion.E2013, ExVersion.E2016, ExVersion.E2019}),
    SE: frozenset({ExVersion.E2016, ExVersion.E2019, SE}),
}

# End of (extended) support [EOS] [SUP]; None: Modern Lifecycle Policy, no fixed date. 2010: ended, no Microsoft
# page with the date was looked up here.
END_OF_SUPPORT: dict[ExVersion, str | None] = {
    ExVersion.E2007: "2017-04-11", ExVersion.E2010: "ended", ExVersion.E2013: "2023-04-11",
    ExVersion.E2016: "2025-10-14", ExVersion.E2019: "2025-10-14", SE: None,
}


def of_build(major: int, minor: int, build: int) -> ExVersion | None:
    """The version of an Exchange build number (AdminDisplayVersion "Version 15.2 (Build 2562.17)") [SE-BUILD]."""
    if major == 15:
        if minor == 2:
            return SE if (major, minor, build) >= SE_FIRST_BUILD else ExVersion.E2019
        return {0: ExVersion.E2013, 1: ExVersion.E2016}.get(minor)
    return {8: ExVersion.E2007, 14: ExVersion.E2010}.get(major)
