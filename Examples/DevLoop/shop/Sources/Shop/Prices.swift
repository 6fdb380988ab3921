/// An item of the shop's catalogue.
public struct Item: Sendable, Equatable {
    /// Its name.
    public var name: String
    /// Its price in cents.
    public var cents: Int

    /// An item.
    public init(name: String, cents: Int) {
        self.name = name
        self.cents = cents
    }
}

/// What the shop sells.
public let catalogue = [
    Item(name: "tea", cents: 350),
    Item(name: "cake", cents: 420),
    Item(name: "soup", cents: 600),
]

/// The price of `items` in cents, `discount` percent off (rounded down), never below zero.
public func total(_ items: [Item], discount: Int = 0) -> Int {
    let sum = items.reduce(0) { $0 + $1.cents }
    return max(0, sum - sum * min(max(discount, 0), 100) / 100)
}
