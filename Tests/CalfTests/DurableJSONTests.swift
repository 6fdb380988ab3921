// An effect's output is journaled as JSON: the plain scalars and the values
// that write themselves skip the encoder, and must write what it writes.
import CalfControl
@testable import CalfDurable
import Testing

@Suite struct DurableJSONTests {
    @Test func scalarsWrittenWithoutTheEncoderAreWhatTheEncoderWrites() throws {
        for text in ["", "plain", "quote \" backslash \\ slash /", "tab\tnew line\n\u{1}", "é🚀"] {
            #expect(try DurableJSON.encode(text) == (try ControlProtocol.encode(text)), "\(text)")
        }
        for number in [0, -1, 42, Int.max, Int.min] {
            #expect(try DurableJSON.encode(number) == (try ControlProtocol.encode(number)))
        }
        #expect(try DurableJSON.encode(true) == (try ControlProtocol.encode(true)))
        let value: JSONValue = ["b": [1, "x"], "a": nil]
        #expect(try DurableJSON.encode(value) == (try ControlProtocol.encode(value)))
        struct Other: Codable { var z = 1; var a = [2.5] }
        #expect(try DurableJSON.encode(Other()) == (try ControlProtocol.encode(Other())))
    }
}
