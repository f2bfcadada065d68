"""CAPA / retraining tickets: the 12 items of regulatory.md section 3 as one typed record.

* :mod:`.record`: the record, one model per item;
* :mod:`.opening`: the record a ticket gets when an analysis opens it (items 1, 2 and the analysis' evidence);
* :mod:`.reportability`: reporting deadlines per jurisdiction (NMPA, EU MDR, FDA);
* :mod:`.pathway`: the regulatory pathway of a modification, by a pre-specified rule;
* :mod:`.editing`: changes people make (sections, freezing, signatures, the qualifying analysis);
* :mod:`.workflow`: what must be filled before each ticket transition, and the 12-item checklist.
"""

from monitor.domain.capa.editing import add_signature, freeze_acceptance, record_verification, update_section
from monitor.domain.capa.opening import open_record
from monitor.domain.capa.pathway import PathwayDecision, PccpModification, decide_pathway
from monitor.domain.capa.record import SECTIONS, USER_FIELDS, CapaRecord, record_sha256
from monitor.domain.capa.reportability import EVENT_CLASSES, reporting_deadline
from monitor.domain.capa.workflow import CHECKLIST, GATES, checklist, missing_for

__all__ = [
    "CHECKLIST", "EVENT_CLASSES", "GATES", "SECTIONS", "USER_FIELDS", "CapaRecord", "PathwayDecision",
    "PccpModification", "add_signature", "checklist", "decide_pathway", "freeze_acceptance", "missing_for",
    "open_record", "record_sha256", "record_verification", "reporting_deadline", "update_section",
]
