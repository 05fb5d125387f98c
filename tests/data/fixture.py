"""A realistic little production database: users, addresses, orders, a JSON profile."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

import psycopg

from stageline.data.rules import DataRules

SCHEMA = """
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    email varchar(320) NOT NULL UNIQUE,
    full_name text NOT NULL,
    phone text,
    born date,
    last_ip inet,
    profile jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE addresses (
    id serial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users(id),
    street text NOT NULL,
    city text NOT NULL,
    country char(2) NOT NULL
);
CREATE TABLE orders (
    id serial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users(id),
    customer_email varchar(320) NOT NULL,
    total_cents integer NOT NULL CHECK (total_cents >= 0),
    note text
);
CREATE INDEX orders_email ON orders (customer_email);
CREATE TABLE products (id serial PRIMARY KEY, sku text NOT NULL UNIQUE, title text NOT NULL);
CREATE TABLE sessions (token text PRIMARY KEY, user_id bigint REFERENCES users(id));
"""

RULES: dict[str, Any] = {
    "schema_only": ["sessions"],
    "tables": {
        "users": {
            "id": "keep",
            "email": "email",
            "full_name": "name",
            "phone": "phone",
            "born": {"mask": "date", "days": 200},
            "last_ip": "ip",
            "profile": {
                "mask": "json",
                "keys": {"email": "email", "street": "address", "bio": "text", "phone": "phone"},
            },
            "created_at": "keep",
        },
        "addresses": {
            "id": "keep",
            "user_id": "keep",
            "street": "address",
            "city": {"mask": "constant", "value": "Springfield"},
            "country": "keep",
        },
        "orders": {
            "id": "keep",
            "user_id": "keep",
            "customer_email": "email",
            "total_cents": "keep",
            "note": "text",
        },
        "products": {"id": "keep", "sku": "keep", "title": "keep"},
    },
}

FIRST = [
    "Margarethe",
    "Bartholomew",
    "Perpetua",
    "Evangelos",
    "Rosalind",
    "Thaddeus",
    "Ottilie",
    "Leopoldine",
    "Casimir",
    "Wilhelmina",
]
LAST = [
    "Quackenbush",
    "Featherstonehaugh",
    "Oyelaran",
    "Szczepanski",
    "Vanderbilt",
    "Abernathy",
    "Montgomery",
    "Papadopoulos",
]


@dataclass
class Fixture:
    """The PII the fixture planted, so a test can look for every value."""

    emails: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    streets: list[str] = field(default_factory=list)
    cities: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)

    def all_values(self) -> list[str]:
        return [
            *self.emails,
            *self.names,
            *self.phones,
            *self.streets,
            *self.cities,
            *self.notes,
            *self.ips,
        ]


def rules() -> DataRules:
    return DataRules.model_validate(RULES)


def populate(url: str, users: int = 200, seed: int = 7) -> Fixture:
    rng = random.Random(seed)
    fx = Fixture()
    with psycopg.connect(url) as conn:
        conn.execute(SCHEMA)
        for i in range(users):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            name = f"{first} {last} {i}"
            email = f"{first}.{last}.{i}@realmail-{i % 7}.test".lower()
            phone = f"+44 20 7946 {i:04d}"
            street = f"{i + 1} {last} Crescent"
            city = f"Town{rng.randint(100, 999)}"
            ip = f"192.0.2.{i % 250}" if i % 2 else f"2001:db8::{i:x}"
            note = f"Leave it with {first} at the back door, call {phone}\tthanks\\ ok"
            profile = {
                "email": email,
                "prefs": {"newsletter": i % 2 == 0},
                "addresses": [{"street": street, "kind": "home"}],
                "bio": f"{first} loves tea",
                "phone": phone,
            }
            uid = conn.execute(
                "INSERT INTO users (email, full_name, phone, born, last_ip, profile)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (
                    email,
                    name,
                    phone if i % 5 else None,
                    f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}",
                    ip,
                    json.dumps(profile),
                ),
            ).fetchone()[0]  # type: ignore[index]
            conn.execute(
                "INSERT INTO addresses (user_id, street, city, country) VALUES (%s, %s, %s, 'GB')",
                (uid, street, city),
            )
            for _ in range(rng.randint(0, 3)):
                conn.execute(
                    "INSERT INTO orders (user_id, customer_email, total_cents, note)"
                    " VALUES (%s, %s, %s, %s)",
                    (uid, email, rng.randint(100, 10000), note if rng.random() < 0.5 else None),
                )
            conn.execute("INSERT INTO sessions VALUES (%s, %s)", (f"tok-{i}-secret", uid))
            fx.emails.append(email)
            fx.names.append(name)
            fx.phones.append(phone)
            fx.streets.append(street)
            fx.cities.append(city)
            fx.notes.append(note)
            fx.ips.append(ip)
        conn.execute("INSERT INTO products (sku, title) VALUES ('MUG', 'Mug'), ('TEA', 'Tea')")
    return fx
