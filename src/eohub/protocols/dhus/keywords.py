"""DHuS OpenSearch keywords: the Solr fields of DHuS mapped onto eohub's query fields.

Each :class:`Keyword` names the eohub field it searches (a registered field or
``attributes.<name>``, the name the product readers store the value under), whether DHuS
indexed it as ``text_general`` (case-insensitive match) or ``string`` (exact match), and the
typed group an entry of a result shows it in (``date``, ``int``, ``double``, ``str``; None when
DHuS 2.x leaves it out: its XSLT drops ``long``, ``float``, ``bool`` and multi-valued fields).

Keywords that need their own translation (``footprint``, ``size``, ``format``...) are listed in
:data:`SPECIAL` and handled by :mod:`eohub.protocols.dhus.lucene` and
:mod:`eohub.protocols.dhus.entry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from eohub.query.fields import ATTRIBUTE_PREFIX, FIELDS, Field

Group = Literal["date", "int", "double", "str"]


@dataclass(frozen=True)
class Keyword:
    """One DHuS keyword (a Solr field name, lower case)."""

    name: str
    field: str
    text: bool = True  # text_general: case-insensitive; False: string, exact
    group: Group | None = "str"
    tokens: bool = False  # a space-separated list: a term matches any one of its tokens

    @property
    def spec(self) -> Field:
        """The eohub field searched."""
        return FIELDS.get(self.field)


def _a(name: str) -> str:
    return ATTRIBUTE_PREFIX + name


_K = Keyword
_KEYWORDS: tuple[Keyword, ...] = (
    # Mission-independent
    _K("uuid", "id", text=False),
    _K("identifier", "name", text=False),
    _K("filename", "filename", text=False),
    _K("collection", "collection", group=None),
    _K("ingestiondate", "ingestion_date", text=False, group="date"),
    _K("beginposition", "sensing_start", text=False, group="date"),
    _K("endposition", "sensing_end", text=False, group="date"),
    _K("generationdate", _a("generationDate"), text=False, group="date"),
    _K("platformname", "mission"),
    _K("platformshortname", "platform_short_name", group=None),
    _K("platformserialidentifier", "platform_serial"),
    _K("platformidentifier", _a("nssdcIdentifier")),
    _K("platformnumber", _a("platformNumber"), text=False, group=None),
    _K("instrumentname", _a("instrumentName")),
    _K("instrumentshortname", "instrument"),
    _K("producttype", "product_type"),
    _K("processinglevel", "processing_level"),
    _K("processingbaseline", "processing_baseline"),
    _K("sensoroperationalmode", "sensor_mode"),
    _K("orbitdirection", "orbit_direction"),
    _K("orbitnumber", "orbit_number", text=False, group="int"),
    _K("relativeorbitnumber", "relative_orbit", text=False, group="int"),
    _K("timeliness", "timeliness"),
    _K("online", "online", text=False, group=None),
    _K("filedescription", _a("fileDescription"), group=None),
    _K("fileclass", _a("fileClass"), group=None),
    _K("creator", _a("processorName"), group=None),
    _K("creatorversion", _a("processorVersion"), group=None),
    # Sentinel-1
    _K("polarisationmode", "polarisation", tokens=True),
    _K("swathidentifier", "swath", tokens=True),
    _K("productclass", "product_class"),
    _K("acquisitiontype", _a("acquisitionType")),
    _K("status", _a("status")),
    _K("missiondatatakeid", _a("datatakeID"), text=False, group="int"),
    _K("slicenumber", _a("sliceNumber"), text=False, group="int"),
    _K("lastorbitnumber", _a("lastOrbitNumber"), text=False, group="int"),
    _K("lastrelativeorbitnumber", _a("lastRelativeOrbitNumber"), text=False, group="int"),
    _K("productconsolidation", _a("productComposition")),
    _K("resolutiondetail", _a("resolution"), text=False),
    # Sentinel-2
    _K("cloudcoverpercentage", "cloud_cover", text=False, group="double"),
    _K("tileid", "tile_id", text=False),
    _K("s2datatakeid", _a("productGroupId")),
    _K("datastripidentifier", _a("datastripId")),
    _K("granuleidentifier", _a("granuleIdentifier")),
    _K("level1cpdiidentifier", _a("l1cTileId"), text=False),
    _K("datatakesensingstart", _a("datatakeSensingStart"), text=False, group="date"),
    *(
        _K(name.lower(), _a(name), text=False, group="double")
        for name in (
            "vegetationPercentage",
            "notVegetatedPercentage",
            "waterPercentage",
            "unclassifiedPercentage",
            "mediumProbaCloudsPercentage",
            "highProbaCloudsPercentage",
            "snowIcePercentage",
            "bareSoilPercentage",
            "lowProbaCloudsPercentage",
            "illuminationAzimuthAngle",
            "illuminationZenithAngle",
        )
    ),  # fmt: skip
    # Sentinel-3
    _K("creationdate", _a("creationDate"), text=False, group="date"),
    _K("mode", _a("operationalMode")),
    _K("passnumber", _a("passNumber"), text=False),
    _K("relpassnumber", _a("relativePassNumber"), text=False),
    _K("pduduration", _a("productUnitDuration"), text=False),
    _K("pdualongtrackcoord", _a("productUnitAlongtrackCoordinate"), text=False),
    _K("onlinequalitycheck", _a("onlineQualityCheck")),
    _K("ecmwf", _a("ecmwfType")),
    _K("processingname", _a("processorName")),
    _K("procfacilityname", _a("processingFacility")),
    _K("procfacilityorg", _a("processingCenter")),
    _K("ispcount", _a("ispCount"), text=False, group=None),
    _K("nbfire", _a("nbFire"), text=False, group="int"),
    _K("salinewatercoverpercentage", _a("salineWaterCover"), text=False, group=None),
    _K("coastalcoverpercentage", _a("coastalCover"), text=False, group=None),
    _K("tidalregioncoverpercentage", _a("tidalRegionCover"), text=False, group=None),
    _K("freshwatercoverpercentage", _a("freshInlandWaterCover"), text=False, group=None),
    _K("brightcoverpercentage", _a("brightCover"), text=False, group=None),
    _K("landcoverpercentage", _a("landCover"), text=False, group=None),
    _K("snoworicecoverpercentage", _a("snowOrIceCover"), text=False, group=None),
    _K("lrmpercentage", _a("lrmModePercentage"), text=False, group="int"),
    _K("sarpercentage", _a("sarModePercentage"), text=False, group="int"),
    _K("landpercentage", _a("landPercentage"), text=False, group="int"),
    _K("closedseapercentage", _a("closedSeaPercentage"), text=False, group="int"),
    _K("continentalicepercentage", _a("continentalIcePercentage"), text=False, group="int"),
    _K("openseapercentage", _a("openOceanPercentage"), text=False, group="int"),
    *(
        _K(dhus, _a(name), group=None)
        for dhus, name in (
            ("lastorbitdirection", "lastOrbitDirection"),
            ("relorbitdir", "relativeOrbitDirection"),
            ("lastrelorbitdirection", "lastRelativeOrbitDirection"),
            ("lastpassnumber", "lastPassNumber"),
            ("passdirection", "passDirection"),
            ("lastpassdirection", "lastPassDirection"),
            ("lastrelpassnumber", "lastRelativePassNumber"),
            ("relpassdirection", "relativePassDirection"),
            ("lastrelpassdirection", "lastRelativePassDirection"),
            ("olcicalseq", "olciCalibrationSequence"),
            ("olcicaltriggers", "olciCalibrationTriggers"),
            ("olcicaldescription", "olciCalibrationDescription"),
            ("olcilevel", "olciLevel"),
            ("adfqualitycheck", "adfQualityCheck"),
            ("leapsecond", "leapSecond"),
            ("leapsecondoccurrence", "leapSecondOccurrence"),
            ("pdutileid", "productUnitTileId"),
        )
    ),
    # Sentinel-5P
    _K("processingmode", _a("processingMode")),
)

KEYWORDS: dict[str, Keyword] = {k.name: k for k in _KEYWORDS}
"""Every plain keyword by its lower-case name."""

SPECIAL: frozenset[str] = frozenset(
    {
        "footprint",  # spatial predicates
        "gmlfootprint",  # only "has a footprint" queries
        "contents",  # the default full-text field
        "size",  # "110.44 MB" in DHuS, bytes here
        "format",  # SAFE / NETCDF: derived from the file name
        "hv_order_tileid",  # the tile id with its letters reordered
        "productlevel",  # L1 / L2 (Sentinel-3): derived from the processing level
        "cyclenumber",  # stored but not searchable yet (see lucene.py)
    }
)
"""Keywords translated by hand."""

SORTABLE: dict[str, str] = {
    k.name: k.field for k in _KEYWORDS if not k.spec.is_attribute and k.spec.sortable
}
"""Keywords ``orderby`` accepts, with the eohub field each sorts by."""


def keyword_names() -> list[str]:
    """Every keyword a query may use (plain and special)."""
    return sorted({*KEYWORDS, *SPECIAL})
