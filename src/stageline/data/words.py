"""Word lists the fake-value transformers pick from (by HMAC bytes, never at random)."""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    """
    Ada Alan Alice Amara Anders Aiko Bea Bruno Carla Chen Dario Dana Elif Emil Esther Farah
    Felix Gita Hana Hugo Ines Ivan Jana Jonas Kai Kemal Lara Leon Lina Luca Maya Mateo Nadia
    Nils Noor Omar Olga Paula Pavel Quinn Rafael Rosa Sami Sara Tariq Tess Uma Ugo Vera Viktor
    Wen Wolf Xena Yara Yusuf Zane Zoe Arlo Bodhi Cleo Dmitri Edda Fenna Gus
    """
)
LAST_NAMES = _words(
    """
    Abbott Baptiste Castellano Dahl Eriksen Fontaine Gallo Haddad Iyer Janssen Kowalski
    Lindqvist Moreau Nakamura Okafor Petrov Quint Rossi Sorensen Tanaka Ueda Varga Weber
    Xiong Yilmaz Zielinski Achterberg Brandt Costa Delacroix Esposito Fischer Gruber Horvath
    Ibsen Jovanovic Keller Lambert Mancini Novak Olsen Pereira Quiroga Romano Schneider
    Thorsen Urbano Vogel Wagner Xavier Young Zimmer Arslan Bergstrom Cruz Dimitrov Engel
    Ferreira Gomez Holm Ivanova Jensen Kraus Larsen
    """
)
STREETS = _words(
    """
    Maple Oak Cedar Birch Willow Aspen Elm Pine Juniper Laurel Linden Magnolia Poplar Rowan
    Spruce Sycamore Harbor Meadow Orchard Ridge River Lake Hill Valley Garden Station Market
    Mill Church Bridge Castle Forest
    """
)
STREET_KINDS = ("Street", "Road", "Lane", "Avenue", "Way", "Court", "Place", "Row")
CITIES = _words(
    """
    Springfield Riverton Lakeside Fairview Greenwood Kingsport Westfield Brookvale Oakridge
    Millbrook Ashford Clearwater Eastwick Northgate Southport Redhill Stonebridge Whitby
    Bayview Cedarville Elmstead Foxborough Glenmore Hillcrest Ivydale Juniper Kestrel Lowell
    Marston Newbury Oldham Pinehurst
    """
)
DOMAINS = ("example.com", "example.net", "example.org", "example.invalid")
# 256 words, so one HMAC byte picks one word
WORDS = _words(
    """
    lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt
    ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco
    laboris nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit voluptate
    velit esse cillum fugiat nulla pariatur excepteur sint occaecat cupidatat non proident
    sunt culpa qui officia deserunt mollit anim id est laborum curabitur pretium tincidunt
    lacus nulla gravida orci a odio nullam varius turpis egestas pharetra mauris bibendum
    faucibus vivamus magna lectus porta amet ultrices quisque vel augue cras vitae nibh
    morbi risus nunc sapien purus fringilla donec ligula pellentesque praesent mattis
    dictum arcu rhoncus aliquam hendrerit vestibulum ante primis luctus posuere cubilia
    curae etiam ultricies tortor maecenas feugiat dapibus semper ornare sodales tellus
    scelerisque blandit massa fermentum vulputate suscipit commodo viverra sollicitudin
    aenean pulvinar dignissim justo sagittis integer tristique senectus netus malesuada
    fames accumsan lacinia interdum phasellus condimentum nam euismod facilisis elementum
    mi iaculis placerat cursus neque volutpat libero eleifend ac auctor imperdiet metus
    convallis molestie habitant leo urna proin laoreet quam nisl mus ridiculus nascetur
    parturient montes dis penatibus magnis natoque fusce consequat eros diam sapien tempus
    vehicula hac habitasse platea dictumst at lobortis felis id porttitor ligula sem
    venenatis erat velit ullamcorper finibus odio congue aptent taciti sociosqu litora
    torquent per conubia nostra inceptos himenaeos class efficitur tincidunt nec nunc
    alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november
    oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu amber azure
    coral ivory olive slate umber
    """
)
WORDS = WORDS[:256]
