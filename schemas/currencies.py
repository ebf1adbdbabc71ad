"""ISO 4217 currency codes a product price may carry.

Source: ISO 4217 "List one: current currency & funds" as maintained by SIX Financial
Information (the ISO 4217 maintenance agency), including the amendments up to 2025: XCG
replaced ANG (2025), ZWG replaced ZWL (2024), SLE replaced SLL, EUR replaced HRK (2023).
Withdrawn codes (list three) are not accepted: a feed still using one should be corrected.
XTS (reserved for testing) and XXX (no currency) are left out: neither can price a product.
Checked in rather than taken from a package, so the contract does not move with a dependency;
update it when ISO publishes an amendment.
"""

from __future__ import annotations

_LIST_ONE = """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR
    ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA
    MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK
    PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC
    SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND
    VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG
"""

ISO_4217: frozenset[str] = frozenset(_LIST_ONE.split())
"""Every accepted code (three upper-case letters)."""
