"""Model -> Plan: every decision made once (build), the rules' findings (rules/), the Exchange state verify and
audit compare (expected), the coexistence view (coexist). Targets, certs and audit read the Plan."""

from __future__ import annotations

from .build import build_plan
from .lookup import slug
from .types import MAIN_GROUP, ExchangePlan, Finding, HealthCheck, Listener, Member, NamespacePlan, Plan, ServicePlan

__all__ = ["build_plan", "slug", "MAIN_GROUP", "ExchangePlan", "Finding", "HealthCheck", "Listener", "Member",
           "NamespacePlan", "Plan", "ServicePlan"]
