"""Data for `make_examples.py`: agencies, places, kinds of property and listing texts.

A data module, so it is longer than the usual 400 lines. Agencies, agents and streets are
invented; cities, postcode ranges, regions and coordinates are real places. German texts follow
Immowelt rule 21: no HTML, URLs, e-mail addresses or phone numbers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from listsync.model import Category

__all__ = [
    "AGENCIES",
    "DE_KINDS",
    "DE_PLACES",
    "SE_KINDS",
    "SE_PLACES",
    "Agency",
    "Kind",
    "Place",
    "de_texts",
    "se_texts",
]


@dataclass(frozen=True)
class Place:
    city: str
    municipality: str
    region: str
    postcodes: tuple[int, int]
    lat: float
    lon: float
    sqm_price: int
    streets: tuple[str, ...]
    agency: str


@dataclass(frozen=True)
class Agency:
    ref: str
    name: str
    domain: str
    phone: str
    street: str
    postcode: str
    city: str
    country: str
    agents: tuple[tuple[str, str, str], ...]  # first, last, salutation


AGENCIES = {
    a.ref: a
    for a in (
        Agency(
            "se-norrmalm",
            "Norrmalms Mäklarbyrå",
            "norrmalmsmaklarbyra.se",
            "+46 8 555 120 00",
            "Upplandsgatan 14",
            "113 23",
            "Stockholm",
            "SE",
            (("Anna", "Lindqvist", ""), ("Erik", "Johansson", ""), ("Sara", "Bergström", "")),
        ),
        Agency(
            "se-vastkust",
            "Västkustens Fastighetsförmedling",
            "vastkustensfastighet.se",
            "+46 31 700 45 10",
            "Södra Larmgatan 6",
            "411 16",
            "Göteborg",
            "SE",
            (("Johan", "Karlsson", ""), ("Maria", "Nilsson", "")),
        ),
        Agency(
            "se-skane",
            "Skånemäklarna",
            "skanemaklarna.se",
            "+46 40 630 22 90",
            "Stortorget 9",
            "211 22",
            "Malmö",
            "SE",
            (("Lars", "Persson", ""), ("Elin", "Håkansson", "")),
        ),
        Agency(
            "de-spree",
            "Spree Immobilien GmbH",
            "spree-immobilien.de",
            "+49 30 88776655",
            "Friedrichstraße 112",
            "10117",
            "Berlin",
            "DE",
            (("Julia", "Schneider", "Mrs"), ("Thomas", "Müller", "Mr"), ("Katrin", "Wagner", "Ms")),
        ),
        Agency(
            "de-isar",
            "Isar Wohnen & Gewerbe",
            "isar-wohnen.de",
            "+49 89 24681357",
            "Leopoldstraße 28",
            "80802",
            "München",
            "DE",
            (("Michael", "Huber", "Mr"), ("Sabine", "Bauer", "Mrs")),
        ),
    )
}

SE_PLACES = (
    Place(
        "Stockholm",
        "Stockholm",
        "Stockholms län",
        (11120, 11860),
        59.334,
        18.063,
        98000,
        (
            "Sveavägen",
            "Odengatan",
            "Hornsgatan",
            "Götgatan",
            "Karlavägen",
            "Folkungagatan",
            "Sankt Eriksgatan",
            "Ringvägen",
        ),
        "se-norrmalm",
    ),
    Place(
        "Solna",
        "Solna",
        "Stockholms län",
        (16950, 17179),
        59.360,
        18.000,
        76000,
        ("Frösundaleden", "Råsundavägen", "Solnavägen", "Hagalundsgatan"),
        "se-norrmalm",
    ),
    Place(
        "Nacka",
        "Nacka",
        "Stockholms län",
        (13130, 13180),
        59.310,
        18.163,
        68000,
        ("Värmdövägen", "Skvaltans väg", "Vikdalsvägen", "Saltsjöbadsvägen"),
        "se-norrmalm",
    ),
    Place(
        "Uppsala",
        "Uppsala",
        "Uppsala län",
        (75220, 75658),
        59.858,
        17.639,
        45000,
        ("Kungsgatan", "Svartbäcksgatan", "Luthagsesplanaden", "Sysslomansgatan"),
        "se-norrmalm",
    ),
    Place(
        "Västerås",
        "Västerås",
        "Västmanlands län",
        (72210, 72481),
        59.611,
        16.545,
        30000,
        ("Stora Gatan", "Vasagatan", "Kopparbergsvägen", "Djäkneberget"),
        "se-norrmalm",
    ),
    Place(
        "Umeå",
        "Umeå",
        "Västerbottens län",
        (90325, 90750),
        63.826,
        20.263,
        33000,
        ("Rådhusesplanaden", "Storgatan", "Kungsgatan", "Västra Esplanaden"),
        "se-norrmalm",
    ),
    Place(
        "Åre",
        "Åre",
        "Jämtlands län",
        (83752, 83753),
        63.399,
        13.081,
        56000,
        ("Årevägen", "Tegefjällsvägen", "Björnänget", "Sadelvägen"),
        "se-norrmalm",
    ),
    Place(
        "Kiruna",
        "Kiruna",
        "Norrbottens län",
        (98131, 98146),
        67.856,
        20.225,
        16000,
        ("Lars Janssonsgatan", "Hjalmar Lundbohmsvägen", "Geologgatan"),
        "se-norrmalm",
    ),
    Place(
        "Göteborg",
        "Göteborg",
        "Västra Götalands län",
        (41101, 41879),
        57.707,
        11.967,
        56000,
        (
            "Linnégatan",
            "Vasagatan",
            "Övre Husargatan",
            "Karl Johansgatan",
            "Aschebergsgatan",
            "Eklandagatan",
        ),
        "se-vastkust",
    ),
    Place(
        "Borås",
        "Borås",
        "Västra Götalands län",
        (50330, 50764),
        57.721,
        12.940,
        24000,
        ("Allégatan", "Sandwalls plats", "Bryggaregatan", "Norrby Långgata"),
        "se-vastkust",
    ),
    Place(
        "Karlstad",
        "Karlstad",
        "Värmlands län",
        (65224, 65468),
        59.380,
        13.504,
        27000,
        ("Drottninggatan", "Västra Torggatan", "Hamngatan", "Sandbäcksgatan"),
        "se-vastkust",
    ),
    Place(
        "Halmstad",
        "Halmstad",
        "Hallands län",
        (30224, 30573),
        56.674,
        12.858,
        31000,
        ("Storgatan", "Brogatan", "Tylösandsvägen", "Laholmsvägen"),
        "se-vastkust",
    ),
    Place(
        "Visby",
        "Gotland",
        "Gotlands län",
        (62141, 62158),
        57.637,
        18.296,
        40000,
        ("Adelsgatan", "Strandgatan", "Hästgatan", "Stenkumlaväg"),
        "se-vastkust",
    ),
    Place(
        "Malmö",
        "Malmö",
        "Skåne län",
        (21115, 21777),
        55.605,
        13.003,
        39000,
        ("Södra Förstadsgatan", "Regementsgatan", "Bergsgatan", "Amiralsgatan", "Ystadvägen"),
        "se-skane",
    ),
    Place(
        "Lund",
        "Lund",
        "Skåne län",
        (22220, 22736),
        55.705,
        13.191,
        48000,
        ("Bantorget", "Kävlingevägen", "Tornavägen", "Winstrupsgatan"),
        "se-skane",
    ),
    Place(
        "Helsingborg",
        "Helsingborg",
        "Skåne län",
        (25220, 25669),
        56.046,
        12.694,
        35000,
        ("Drottninggatan", "Järnvägsgatan", "Furutorpsgatan", "Pålsjövägen"),
        "se-skane",
    ),
    Place(
        "Ystad",
        "Ystad",
        "Skåne län",
        (27131, 27160),
        55.429,
        13.820,
        30000,
        ("Stora Östergatan", "Hamngatan", "Sjömansgatan", "Österleden"),
        "se-skane",
    ),
)

DE_PLACES = (
    Place(
        "Berlin",
        "Berlin",
        "Berlin",
        (10115, 14199),
        52.520,
        13.405,
        5600,
        (
            "Schönhauser Allee",
            "Kastanienallee",
            "Bergmannstraße",
            "Kantstraße",
            "Boxhagener Straße",
            "Karl-Marx-Allee",
        ),
        "de-spree",
    ),
    Place(
        "Hamburg",
        "Hamburg",
        "Hamburg",
        (20095, 22769),
        53.551,
        9.994,
        6100,
        ("Eppendorfer Weg", "Osterstraße", "Mühlenkamp", "Lange Reihe"),
        "de-spree",
    ),
    Place(
        "Leipzig",
        "Leipzig",
        "Sachsen",
        (4103, 4357),
        51.340,
        12.375,
        2900,
        ("Karl-Liebknecht-Straße", "Gohliser Straße", "Eisenbahnstraße", "Könneritzstraße"),
        "de-spree",
    ),
    Place(
        "Dresden",
        "Dresden",
        "Sachsen",
        (1067, 1328),
        51.050,
        13.738,
        3100,
        ("Königsbrücker Straße", "Alaunstraße", "Schandauer Straße", "Bautzner Straße"),
        "de-spree",
    ),
    Place(
        "Rostock",
        "Rostock",
        "Mecklenburg-Vorpommern",
        (18055, 18147),
        54.092,
        12.099,
        3200,
        ("Doberaner Straße", "Kröpeliner Straße", "Am Strande", "Budapester Straße"),
        "de-spree",
    ),
    Place(
        "Hannover",
        "Hannover",
        "Niedersachsen",
        (30159, 30669),
        52.375,
        9.732,
        3300,
        ("Lister Meile", "Podbielskistraße", "Limmerstraße", "Hildesheimer Straße"),
        "de-spree",
    ),
    Place(
        "München",
        "München",
        "Bayern",
        (80331, 81929),
        48.137,
        11.575,
        9600,
        (
            "Leopoldstraße",
            "Schellingstraße",
            "Lindwurmstraße",
            "Rosenheimer Straße",
            "Nymphenburger Straße",
        ),
        "de-isar",
    ),
    Place(
        "Frankfurt am Main",
        "Frankfurt am Main",
        "Hessen",
        (60311, 60599),
        50.110,
        8.682,
        6200,
        ("Berger Straße", "Schweizer Straße", "Leipziger Straße", "Eschersheimer Landstraße"),
        "de-isar",
    ),
    Place(
        "Köln",
        "Köln",
        "Nordrhein-Westfalen",
        (50667, 51149),
        50.938,
        6.960,
        4600,
        ("Aachener Straße", "Venloer Straße", "Severinstraße", "Dürener Straße"),
        "de-isar",
    ),
    Place(
        "Stuttgart",
        "Stuttgart",
        "Baden-Württemberg",
        (70173, 70629),
        48.776,
        9.183,
        5200,
        ("Königstraße", "Olgastraße", "Hohenheimer Straße", "Schwabstraße"),
        "de-isar",
    ),
    Place(
        "Freiburg im Breisgau",
        "Freiburg im Breisgau",
        "Baden-Württemberg",
        (79098, 79117),
        47.999,
        7.842,
        5300,
        ("Kaiser-Joseph-Straße", "Günterstalstraße", "Habsburgerstraße", "Schwarzwaldstraße"),
        "de-isar",
    ),
    Place(
        "Garmisch-Partenkirchen",
        "Garmisch-Partenkirchen",
        "Bayern",
        (82467, 82467),
        47.492,
        11.095,
        7200,
        ("Zugspitzstraße", "Partnachstraße", "Bahnhofstraße"),
        "de-isar",
    ),
)


@dataclass(frozen=True)
class Kind:
    """A kind of property: canonical category, portal subcategory, size and room ranges."""

    category: Category
    subcategories: tuple[str | None, ...]
    area: tuple[int, int]
    plot: tuple[int, int] | None = None
    residential: bool = True


SE_KINDS: dict[str, tuple[Kind, int]] = {  # name -> (kind, weight)
    "lagenhet": (Kind(Category.APARTMENT, ("300",), (24, 140)), 46),
    "agarlagenhet": (Kind(Category.APARTMENT, ("300",), (45, 120)), 3),
    "villa": (Kind(Category.HOUSE_DETACHED, ("100",), (90, 240), (500, 2200)), 24),
    "radhus": (Kind(Category.HOUSE_TERRACED, ("201", "200"), (80, 150), (120, 400)), 12),
    "kedjehus": (Kind(Category.HOUSE_LINKED, ("202",), (90, 160), (250, 600)), 6),
    "parhus": (Kind(Category.HOUSE_SEMI_DETACHED, ("203",), (90, 170), (300, 700)), 6),
    "fritidshus": (Kind(Category.VACATION_HOME, ("400", "401", "402"), (35, 120), (600, 3000)), 10),
    "tomt": (Kind(Category.PLOT, ("500",), (0, 0), (700, 4000), residential=False), 5),
    "gard": (Kind(Category.FARM, ("600", "601", "602", "603"), (110, 260), (20000, 900000)), 5),
    "ovrigt": (Kind(Category.OTHER, ("900",), (15, 60), (50, 400)), 3),
}

DE_KINDS: dict[str, tuple[Kind, int]] = {
    "wohnung": (Kind(Category.APARTMENT, (None,), (28, 160)), 34),
    "efh": (
        Kind(Category.HOUSE_DETACHED, (None, "BUNGALOW", "MANOR_HOUSE"), (110, 260), (350, 1500)),
        10,
    ),
    "dhh": (Kind(Category.HOUSE_SEMI_DETACHED, (None,), (100, 170), (220, 600)), 6),
    "reihenhaus": (Kind(Category.HOUSE_TERRACED, (None,), (95, 150), (150, 350)), 6),
    "kettenhaus": (Kind(Category.HOUSE_LINKED, (None,), (100, 160), (200, 450)), 2),
    "mfh": (
        Kind(
            Category.HOUSE_DETACHED,
            ("MULTI_FAMILY_HOUSE", "APARTMENT_HOUSE"),
            (300, 900),
            (400, 1400),
        ),
        3,
    ),
    "ferienhaus": (
        Kind(Category.VACATION_HOME, ("CHALET", "GARDEN_HOUSE"), (30, 120), (300, 1500)),
        3,
    ),
    "grundstueck": (Kind(Category.PLOT, (None,), (0, 0), (400, 3000), residential=False), 4),
    "resthof": (Kind(Category.FARM, (None,), (150, 320), (5000, 60000)), 2),
    "buero": (Kind(Category.OFFICE, (None,), (60, 900), residential=False), 5),
    "laden": (
        Kind(
            Category.RETAIL,
            ("STORE", "KIOSK", "SHOWROOM_SPACE", "SALES_AREA"),
            (25, 400),
            residential=False,
        ),
        5,
    ),
    "gastro": (Kind(Category.GASTRONOMY_HOTEL, (None,), (80, 1200), residential=False), 3),
    "halle": (
        Kind(Category.STORAGE_PRODUCTION, (None,), (200, 4000), (800, 9000), residential=False),
        3,
    ),
    "stellplatz": (Kind(Category.PARKING, (None,), (12, 18), residential=False), 4),
    "senioren": (Kind(Category.SENIOR, (None,), (35, 80)), 3),
    "sonstiges": (Kind(Category.OTHER, (None,), (20, 200), residential=False), 2),
}

_SE_ROOMS = {1: "etta", 2: "tvåa", 3: "trea", 4: "fyra", 5: "femma"}

_SE_HEAD = {
    "lagenhet": [
        "Ljus {rooms} med balkong i {city}",
        "Charmig {rooms} högt upp i {city}",
        "Välplanerad {rooms} nära allt i {city}",
        "Stilren {rooms} med öppen planlösning",
    ],
    "agarlagenhet": ["Ägarlägenhet med egen uteplats i {city}", "Modern ägarlägenhet i {city}"],
    "villa": [
        "Rymlig villa med trädgård i {city}",
        "Familjevilla i lugnt område",
        "Arkitektritad villa med sjöutsikt",
        "Välskött sekelskiftesvilla i {city}",
    ],
    "radhus": ["Barnvänligt radhus i {city}", "Radhus med söderläge och carport"],
    "kedjehus": ["Kedjehus med garage i populärt område", "Smakfullt kedjehus i {city}"],
    "parhus": ["Parhus med egen trädgård i {city}", "Renoverat parhus nära skola och natur"],
    "fritidshus": [
        "Fritidshus nära havet",
        "Mysig stuga med bastu och brygga",
        "Fjällnära fritidshus i {city}",
    ],
    "tomt": ["Byggklar tomt i {city}", "Naturtomt med kvällssol"],
    "gard": ["Gård med ekonomibyggnader och åkermark", "Skogsfastighet med bostadshus"],
    "ovrigt": ["Sjöbod vid vattnet", "Förråd och hobbylokal i {city}"],
}

_SE_BODY = {
    "apartment": [
        "Lägenheten har ett genomgående ljusflöde och fina fönsterpartier.",
        "Köket är renoverat med vitvaror i rostfritt och gott om förvaring.",
        "Badrummet är helkaklat med golvvärme och tvättmaskin.",
        "Föreningen är ekonomiskt stabil och har nyligen bytt stammar.",
        "Balkongen vetter mot en lugn innergård i söderläge.",
    ],
    "house": [
        "Huset har ett generöst vardagsrum med öppen spis.",
        "Trädgården är lättskött med gräsmatta, fruktträd och altan.",
        "Nära till förskola, skola och kommunikationer.",
        "Fasaden och taket är omlagda under senare år.",
        "Dubbelgarage och gott om förrådsutrymmen ingår.",
    ],
    "land": [
        "Området erbjuder natur, lugn och goda möjligheter till friluftsliv.",
        "Kommunalt vatten och avlopp finns i anslutning till fastigheten.",
        "Tillträde enligt överenskommelse.",
    ],
}

_SE_CAPTIONS = [
    "Vardagsrum",
    "Kök",
    "Sovrum",
    "Badrum",
    "Balkong",
    "Fasad",
    "Trädgård",
    "Utsikt",
    "Hall",
    "Matplats",
]

_DE_HEAD = {
    "wohnung": [
        "Helle {rooms}-Zimmer-Wohnung mit Balkon in {city}",
        "Gemütliche Altbauwohnung mit Dielenboden",
        "Moderne Wohnung mit Einbauküche",
    ],
    "efh": ["Freistehendes Einfamilienhaus mit Garten in {city}", "Familienhaus in ruhiger Lage"],
    "dhh": ["Doppelhaushälfte mit Terrasse und Garage", "Gepflegte Doppelhaushälfte in {city}"],
    "reihenhaus": ["Reihenmittelhaus für die junge Familie", "Reihenendhaus mit Südgarten"],
    "kettenhaus": ["Kettenhaus mit Carport in {city}"],
    "mfh": ["Mehrfamilienhaus als Kapitalanlage in {city}", "Vollvermietetes Zinshaus"],
    "ferienhaus": ["Ferienhaus mit Bergblick", "Gartenhaus im Grünen"],
    "grundstueck": [
        "Baugrundstück in gefragter Lage von {city}",
        "Sonniges Grundstück am Ortsrand",
    ],
    "resthof": ["Resthof mit Scheune und Weideland", "Ehemaliger Bauernhof mit Nebengebäuden"],
    "buero": ["Repräsentative Büroetage in {city}", "Helle Büroflächen mit Aufzug"],
    "laden": ["Ladenlokal in bester Lauflage", "Verkaufsfläche mit großer Schaufensterfront"],
    "gastro": ["Eingeführtes Restaurant mit Terrasse", "Kleines Hotel mit Frühstücksraum"],
    "halle": ["Lagerhalle mit Rampe und Hoffläche", "Produktionshalle mit Büroanteil"],
    "stellplatz": ["Tiefgaragenstellplatz in {city}", "Stellplatz im Innenhof"],
    "senioren": ["Barrierefreie Seniorenwohnung mit Service", "Betreutes Wohnen in {city}"],
    "sonstiges": ["Ehemaliges Bahnhofsgebäude im Bieterverfahren"],
}

_DE_BODY = {
    "residential": [
        "Die Wohnräume sind hell und großzügig geschnitten.",
        "Eine moderne Einbauküche ist im Kaufpreis enthalten.",
        "Das Bad wurde vor kurzem renoviert und hat eine ebenerdige Dusche.",
        "Einkaufsmöglichkeiten, Schulen und der Nahverkehr sind zu Fuß erreichbar.",
        "Ein Kellerabteil und ein Fahrradraum gehören dazu.",
    ],
    "commercial": [
        "Die Flächen sind flexibel aufteilbar und sofort nutzbar.",
        "Sehr gute Anbindung an Autobahn und öffentlichen Nahverkehr.",
        "Ausreichend Parkplätze für Kunden und Mitarbeiter sind vorhanden.",
        "Die Immobilie befindet sich in einem gepflegten Zustand.",
    ],
    "land": [
        "Das Grundstück ist voll erschlossen.",
        "Eine Bebauung nach Bebauungsplan ist möglich.",
        "Ruhige Lage mit viel Grün in der Umgebung.",
    ],
}

_DE_CAPTIONS = [
    "Wohnzimmer",
    "Küche",
    "Schlafzimmer",
    "Badezimmer",
    "Balkon",
    "Außenansicht",
    "Garten",
    "Treppenhaus",
    "Flur",
    "Ausblick",
]

_HOUSES = {
    Category.HOUSE_DETACHED,
    Category.HOUSE_SEMI_DETACHED,
    Category.HOUSE_TERRACED,
    Category.HOUSE_LINKED,
    Category.VACATION_HOME,
    Category.FARM,
}


def _body(rng: random.Random, pool: list[str]) -> str:
    return " ".join(rng.sample(pool, k=min(len(pool), rng.randint(2, 4))))


def se_texts(
    rng: random.Random, name: str, category: Category, row: dict[str, Any], city: str
) -> dict[str, Any]:
    """Headline, description, tagline (Swedish, sometimes English too) and photo captions."""
    rooms = _SE_ROOMS.get(int(row.get("rooms", 0)), "bostad")
    head = rng.choice(_SE_HEAD[name]).format(rooms=rooms, city=city)
    pool = (
        "apartment"
        if category is Category.APARTMENT
        else "house"
        if category in _HOUSES
        else "land"
    )
    out: dict[str, Any] = {
        "headline": {"sv": head},
        "description": {"sv": _body(rng, _SE_BODY[pool])},
        "tagline": {"sv": head.split(" i ")[0]},
        "captions": rng.sample(_SE_CAPTIONS, k=4),
    }
    if rng.random() < 0.2:
        out["description"]["en"] = (
            "A well kept home in a popular area, close to shops and transport."
        )
    return out


def de_texts(
    rng: random.Random, name: str, category: Category, row: dict[str, Any], city: str
) -> dict[str, Any]:
    """Headline and description in German (sometimes English too) and photo captions."""
    rooms = str(row.get("rooms", "")).removesuffix(".0").replace(".", ",")
    head = rng.choice(_DE_HEAD[name]).format(rooms=rooms, city=city)
    pool = (
        "residential"
        if "living_area" in row
        else "land"
        if category is Category.PLOT
        else "commercial"
    )
    out: dict[str, Any] = {
        "headline": {"de": head},
        "description": {"de": _body(rng, _DE_BODY[pool])},
        "captions": rng.sample(_DE_CAPTIONS, k=3),
    }
    if rng.random() < 0.15:
        out["description"]["en"] = (
            "Bright property in a sought-after location with good transport links."
        )
    return out
