import Testing
@testable import CalfShell

/// Figures in a node's answer are data from outside the shell: whatever
/// they hold, formatting them never traps.
@Suite(.timeLimit(.minutes(2))) struct ShellFormatTests {
    @Test func wholeNumbersFromTheNodeNeverTrap() {
        #expect(ShellFormat.whole(12.4) == "12")
        #expect(ShellFormat.whole(-3.6) == "-4")
        #expect(ShellFormat.whole(.infinity) == "-")
        #expect(ShellFormat.whole(-.infinity) == "-")
        #expect(ShellFormat.whole(.nan) == "-")
        // Beyond Int's range (Int(1e300) traps): printed as the Double it is.
        #expect(ShellFormat.whole(1e300) == "1e+300")
    }
}
