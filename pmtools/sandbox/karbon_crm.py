"""The CRM properties of Karbon organizations and contacts that pmtools does not sync but must
never lose: ``AccountingDetail`` (the spec's ``DetailsOfAccounting``) and ``EntityDescription``.

What is checked is what Karbon's own integration tests show it checking: the shape (an object,
arrays of objects, whole numbers where the spec says integer). The spec's enums (Salutation,
Notes ``Type``, GstBasis, …) are *not* enforced: Karbon's tests send "The Dishonorable",
"Related People" and "Invoice" and get 201. Numbers may come as strings ("11"), as Karbon's
tests send them, and are answered as numbers. A date given without a time is answered as
midnight UTC (the spec types the dates as date-time). Unknown properties are ignored, as an
ASP.NET model binder ignores them; the PermaKey of the record itself is set by the simulator.
"""

from __future__ import annotations

import re
from typing import Any

from pmtools.sandbox.karbon_model import invalid

INTEGERS = ("FinancialYearEndDay", "FinancialYearEndMonth")
NUMBERS = ("AnnualRevenue", "OrganizationValuation")
BOOLEANS = ("IsVATRegistered", "PaysTax", "PrepareGST")
DATES = ("BirthDate", "DeathDate", "IncorporationDate", "DateSignedEngagement")
STRINGS = (
    "Salutation",
    "Sex",
    "IncorporationState",
    "LegalName",
    "LineOfBusiness",
    "EntityType",
    "TaxCountryCode",
    "TradingName",
    "BaseCurrency",
    "GstBasis",
    "GstPeriod",
    "IncomeTaxInstallmentPeriod",
    "ProvisionalTaxBasic",
    "ProvisionalTaxRatio",
    "RevenueModel",
    "SalesTaxBasis",
    "SalesTaxPeriod",
    "Sells",
)
STRING_LISTS = (
    "Bank",
    "Payroll",
    "BillPay",
    "Benefits",
    "Revenue",
    "Expenses",
    "FileManagement",
    "Accounting",
)
FIRMS = ("LegalFirm", "TaxProvider")
ENTRY_LISTS = {"RegistrationNumbers": ("RegistrationNumber", "Type"), "Notes": ("Body", "Type")}
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")


def parse_description(value: Any) -> dict[str, Any] | None:
    """``EntityDescription`` as stored: ``{"Text": …}`` or None."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("Text", ""), str):
        raise invalid("EntityDescription must be an object with Text.")
    return {"Text": value.get("Text") or ""}


def parse_accounting(value: Any) -> dict[str, Any] | None:
    """``AccountingDetail`` as stored (unset properties left out), or None; raises 400/4003."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid("AccountingDetail must be an object.")
    out: dict[str, Any] = {}
    for name in INTEGERS:
        out[name] = _integer(name, value.get(name))
    month, day = out["FinancialYearEndMonth"], out["FinancialYearEndDay"]
    if month is not None and not 0 <= month <= 11:
        raise invalid("FinancialYearEndMonth must be from 0 (January) to 11 (December).")
    if day is not None and not 1 <= day <= 31:
        raise invalid("FinancialYearEndDay must be from 1 to 31.")
    for name in NUMBERS:
        out[name] = _number(name, value.get(name))
    for name in BOOLEANS:
        flag = value.get(name)
        if flag is not None and not isinstance(flag, bool):
            raise invalid(f"AccountingDetail.{name} must be true or false.")
        out[name] = flag
    for name in DATES:
        out[name] = _date(name, value.get(name))
    for name in STRINGS:
        out[name] = _string(name, value.get(name))
    for name in STRING_LISTS:
        items = _array(name, value.get(name))
        if items is not None and not all(isinstance(i, str) for i in items):
            raise invalid(f"AccountingDetail.{name} must be an array of strings.")
        out[name] = items
    for name in FIRMS:
        firm = value.get(name)
        if firm is not None and not isinstance(firm, dict):
            raise invalid(f"AccountingDetail.{name} must be an object.")
        out[name] = {k: firm.get(k) for k in ("Name", "OrganizationKey")} if firm else None
    for name, required in ENTRY_LISTS.items():
        out[name] = _entries(name, value.get(name), required)
    return {k: v for k, v in out.items() if v is not None}


def _integer(name: str, raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise invalid(f"AccountingDetail.{name} must be a whole number.")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\s*-?\d+\s*", raw):
        return int(raw)
    raise invalid(f"AccountingDetail.{name} must be a whole number.")


def _number(name: str, raw: Any) -> int | float | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        try:
            number = float(raw)
        except ValueError:
            pass
        else:
            return int(number) if number.is_integer() and "." not in raw else number
    raise invalid(f"AccountingDetail.{name} must be a number.")


def _date(name: str, raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, str) and _DATE_ONLY.match(raw.strip()):
        return raw.strip() + "T00:00:00Z"
    if isinstance(raw, str) and _DATE_TIME.match(raw.strip()):
        return raw.strip()
    raise invalid(f"AccountingDetail.{name} must be a date (YYYY-MM-DD).")


def _string(name: str, raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise invalid(f"AccountingDetail.{name} must be a string.")
    return raw or None


def _array(name: str, raw: Any) -> list[Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise invalid(f"AccountingDetail.{name} must be an array.")
    return list(raw)


def _entries(name: str, raw: Any, required: tuple[str, str]) -> list[dict[str, str]] | None:
    items = _array(name, raw)
    if items is None:
        return None
    out = []
    for item in items:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) and item[k] for k in required
        ):
            raise invalid(f"Each of AccountingDetail.{name} needs {required[0]} and {required[1]}.")
        out.append({k: item[k] for k in required})
    return out
