//! Realistic demo events: several names, many users, nested properties.

use serde::Serialize;
use tidings::Event;

const NAMES: [&str; 6] = [
    "$pageview",
    "signup",
    "search",
    "add_to_cart",
    "purchase",
    "tokens_billed",
];
const PLANS: [&str; 3] = ["free", "pro", "enterprise"];
const PAGES: [&str; 5] = [
    "/",
    "/pricing",
    "/docs/getting-started",
    "/blog/événements",
    "/checkout",
];

#[derive(Serialize)]
struct Cart<'a> {
    items: [Item<'a>; 2],
    total: f64,
    currency: &'a str,
}

#[derive(Serialize)]
struct Item<'a> {
    sku: &'a str,
    qty: u32,
}

#[derive(Serialize)]
struct Utm<'a> {
    source: &'a str,
    campaign: &'a str,
}

/// The `i`-th demo event.
pub fn demo_event(i: u64) -> Event {
    let name = NAMES[(i % NAMES.len() as u64) as usize];
    let user = format!("user-{}", i % 997);
    let mut event = Event::new(name, user)
        .property(
            "$current_url",
            format!("https://shop.example{}", PAGES[(i % 5) as usize]),
        )
        .property("plan", PLANS[(i % 3) as usize])
        .property("i", i)
        .property(
            "utm",
            Utm {
                source: "newsletter",
                campaign: "winter",
            },
        );
    match name {
        "add_to_cart" | "purchase" => {
            let cart = Cart {
                items: [
                    Item {
                        sku: "sku-1",
                        qty: 1 + (i % 3) as u32,
                    },
                    Item {
                        sku: "sku-9",
                        qty: 1,
                    },
                ],
                total: 12.5 + (i % 100) as f64,
                currency: "EUR",
            };
            event.set_property("cart", cart);
        }
        "tokens_billed" => {
            event.set_property("tokens", 100 + i % 5000);
            event.set_property("tenant", format!("tenant-{}", i % 17));
        }
        "search" => event.set_property(
            "query",
            ["rust sdk", "offline queue", "retry-after"][(i % 3) as usize],
        ),
        _ => {}
    }
    event
}
