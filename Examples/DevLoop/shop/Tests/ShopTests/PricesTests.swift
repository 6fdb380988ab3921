import Shop
import Testing

@Test func aTotalAddsItsItems() {
    #expect(total([catalogue[0], catalogue[1]]) == 770)
}

@Test func aDiscountIsTakenOffAndNeverGoesPastEverything() {
    #expect(total([catalogue[2]], discount: 10) == 540)
    #expect(total([catalogue[2]], discount: 150) == 0)
}
