import CalfControl
import Foundation
import Testing

@Suite("Control protocol", .timeLimit(.minutes(1)))
struct ControlProtocolTests {
    private func wire(_ value: some Encodable) throws -> String {
        String(decoding: try ControlProtocol.encode(value), as: UTF8.self)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(json.utf8))
    }

    @Test("every request travels as one flat object and comes back equal")
    func requestsRoundTrip() throws {
        let requests: [ControlRequest] = [
            .send(to: "teller", message: ["credit": ["amount": 25]], key: "k-1"),
            .send(to: "teller", message: "hello", key: nil),
            .call(to: "<0.5.0>", message: [1, true, nil], timeoutMilliseconds: 250),
            .state(of: "account-3", at: 18), .state(of: "account-3", at: nil),
            .ps(order: .pid), .ps(order: .messages), .info("x"), .tree, .mailbox(of: "x"),
            .kill("x", reason: "tired"), .kill("x", reason: nil), .restart("x"), .suspend("x"), .resume("x"), .passivate("x"), .move("x", toScheduler: 1),
            .ps(order: .restarts, passivated: false),
            .deadLetters(of: nil), .deadLetters(of: "x"), .retryDeadLetter(id: 7),
            .journal(of: "x", from: 3, limit: 10), .stats, .names, .trace("x", limit: 5), .top(order: .memory, limit: 40),
        ]
        for request in requests {
            let json = try wire(request)
            #expect(try decode(ControlRequest.self, json) == request, "\(json)")
            #expect(json.contains(#""cmd":"\#(request.command)""#))
            #expect(json.contains(#""v":2"#))
        }
        #expect(try wire(ControlRequest.send(to: "teller", message: ["credit": ["amount": 25]], key: nil))
            == #"{"cmd":"send","message":{"credit":{"amount":25}},"target":"teller","v":2}"#)
    }

    @Test("a request of another version, an unknown command or a missing argument is refused with why")
    func badRequests() throws {
        #expect(throws: ControlRequest.VersionMismatch.self) { try decode(ControlRequest.self, #"{"v":1,"cmd":"ps","target":""}"#) }
        let unknown = #expect(throws: DecodingError.self) { try decode(ControlRequest.self, #"{"v":2,"cmd":"reboot"}"#) }
        #expect("\(String(describing: unknown))".contains("unknown command 'reboot'"))
        let noTarget = #expect(throws: DecodingError.self) { try decode(ControlRequest.self, #"{"v":2,"cmd":"info"}"#) }
        #expect("\(String(describing: noTarget))".contains("info needs a target"))
        #expect(throws: DecodingError.self) { try decode(ControlRequest.self, #"{"v":2,"cmd":"send","target":"t"}"#) }
        #expect(throws: DecodingError.self) { try decode(ControlRequest.self, #"{"v":2,"cmd":"ps","sort":"size"}"#) }
    }

    @Test("a result travels as a JSON value, not as JSON text inside a string")
    func replies() throws {
        let report = ProcessReport(pid: "<0.7>", name: "teller", behavior: "Teller", scheduler: 1, status: "waiting", mailbox: 0, handled: 3,
                                   restarts: 0, memory: 512, durable: true, trapsExits: false, links: [], monitoredBy: [], quarantine: nil)
        let json = String(decoding: EncodedReply.success([report]).frame.dropFirst(4), as: UTF8.self)
        #expect(json.hasPrefix(#"{"ok":true,"result":[{"behavior":"Teller""#))
        #expect(!json.contains(#"\""#))
        #expect(try decode(ControlReply<[ProcessReport]>.self, json) == .success([report]))
        // The same frame read by a client that does not know the type.
        let value = try decode(ControlReply<JSONValue>.self, json).get()
        #expect(value == .array([["behavior": "Teller", "durable": true, "handled": 3, "links": [], "mailbox": 0, "memory": 512,
                                  "monitoredBy": [], "name": "teller", "pid": "<0.7>", "restarts": 0, "scheduler": 1,
                                  "status": "waiting", "trapsExits": false]]))
        // JSON the node wrote already goes into the frame as it is, as its value would be written.
        let state: JSONValue = ["balance": 975, "owner": "a/b \"c\""]
        let stateBytes = try ControlProtocol.encode(state)
        #expect(EncodedReply.success(RawJSON(encoded: stateBytes)).frame == EncodedReply.success(state).frame)
        #expect(try decode(ControlReply<RawJSON>.self, String(decoding: EncodedReply.success(state).frame.dropFirst(4), as: UTF8.self))
            == .success(RawJSON(encoded: stateBytes)))
        let refusal = String(decoding: EncodedReply.failure(.noProcess, "no process x").frame.dropFirst(4), as: UTF8.self)
        #expect(refusal == #"{"error":{"code":"no_process","message":"no process x"},"ok":false,"v":2}"#)
        #expect(try decode(ControlReply<[ProcessReport]>.self, refusal) == .failure(ControlError(.noProcess, "no process x")))
        let streamed = String(decoding: EncodedReply.streamed(TraceUpdate.dropped(3)).frame.dropFirst(4), as: UTF8.self)
        #expect(try decode(ControlReply<TraceUpdate>.self, streamed) == .streamed(.dropped(3)))
        #expect(!EncodedReply.streamed(TraceUpdate.dropped(3)).isLast)
        #expect(EncodedReply.success(Done()).isLast)
    }

    @Test("a frame is its length, big-endian, then its JSON")
    func frames() throws {
        let frame = try ControlProtocol.frame(ControlRequest.stats)
        let body = Array(frame.dropFirst(4))
        #expect(frame.count == body.count + 4)
        #expect(Int(frame[0]) << 24 | Int(frame[1]) << 16 | Int(frame[2]) << 8 | Int(frame[3]) == body.count)
        #expect(String(decoding: body, as: UTF8.self) == #"{"cmd":"stats","v":2}"#)
    }

    @Test("JSON values keep integers exact, parse any JSON and refuse what is not")
    func values() throws {
        let text = #"{"a":[1,-2,2.5,true,null,"s"],"big":18446744073709551615,"ns":1796170987918233456}"#
        let value = try JSONValue(parsing: Array(text.utf8))
        #expect(value["big"] == .unsigned(.max))
        #expect(value["ns"] == .integer(1_796_170_987_918_233_456))
        #expect(value["a"] == [1, -2, .double(2.5), true, nil, "s"])
        #expect(value.text == text)
        #expect(throws: JSONValue.ParseError.self) { try JSONValue(parsing: Array("{\"a\":".utf8)) }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue(parsing: Array("hello".utf8)) }
        struct Credit: Codable, Equatable { var amount: Int }
        #expect(try JSONValue(parsing: Array(#"{"amount":25}"#.utf8)).decode(as: Credit.self) == Credit(amount: 25))
    }
}
