import CalfControl
import Foundation
import Testing
import Yams

/// `Docs/openapi.yaml` checked against a real node: every operation it
/// lists is called with its examples and answers with the first status it
/// documents (or its `x-example-answers`), in that response's schema; one behind the token answers 401
/// without it; one that documents 404 answers it for a process nobody has.
@Suite(.serialized, .timeLimit(.minutes(3))) struct OpenAPITests {
    /// The document, as YAML's nested dictionaries and arrays.
    typealias Node = [String: Any]

    @Test func everyOperationOfTheDocumentAnswersAsDocumented() async throws {
        let text = try String(contentsOf: packageRoot.appendingPathComponent("Docs/openapi.yaml"), encoding: .utf8)
        let document = try #require(try Yams.load(yaml: text) as? Node)
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? Node)
        let operations = Self.operations(of: text, paths)
        #expect(operations.count >= 8, "\(operations.map(\.path))")
        try await withTemporaryDataDirectory { dir in
            let node = try await NodeProcess(data: dir, tree: packageRoot.appendingPathComponent("Supervisors/bank.yaml").path,
                                             durability: "process", extra: ["--http", "127.0.0.1:0"])
            defer { _ = node.stop() }
            let base = try HTTPAPITests.baseURL(of: node)
            let token = try String(contentsOfFile: dir + "/http.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let schema = SchemaCheck(document: document)
            for operation in operations {
                let item = try #require((paths[operation.path] as? Node)?[operation.method] as? Node)
                let parameters = try (item["parameters"] as? [Any] ?? []).map { try #require(schema.resolve($0) as? Node) }
                let responses = try #require(item["responses"] as? Node)
                let secured = (item["security"] as? [Any])?.isEmpty != true
                let label = "\(operation.method.uppercased()) \(operation.path)"

                let request = try Self.request(operation, parameters: parameters, body: item["requestBody"], schema: schema)
                let answer = try await HTTPAPITests.request(operation.method.uppercased(), base + request.path, token: token, body: request.body, headers: request.headers)
                // `x-example-answers`: what the examples answer when it is not the first status
                // (a callback's example token is no node's: 404).
                let expected = try #require(item["x-example-answers"] as? Int ?? operation.statuses.first, "\(label) documents no response")
                #expect(operation.statuses.contains(expected), "\(label) answers a status it does not document")
                #expect(answer.status == expected, "\(label): \(answer.status) \(answer.body)")
                if let response = schema.resolve(responses[String(expected)] ?? [:]) as? Node {
                    let problems = schema.check(answer, against: response)
                    #expect(problems.isEmpty, "\(label): \(problems) in \(answer.body)")
                }
                #expect(Set(operation.statuses).count == operation.statuses.count, "\(label) lists a status twice")

                if secured {
                    #expect(operation.statuses.contains(401), "\(label) is behind the token but does not document 401")
                    let refused = try await HTTPAPITests.request(operation.method.uppercased(), base + request.path, token: nil, body: request.body, headers: request.headers)
                    #expect(refused.status == 401, "\(label) without the token: \(refused.status)")
                    if let response = schema.resolve(responses["401"] ?? [:]) as? Node {
                        #expect(schema.check(refused, against: response).isEmpty, "\(label) 401: \(refused.body)")
                    }
                }
                if operation.statuses.contains(404), parameters.contains(where: { $0["in"] as? String == "path" }) {
                    let nobody = try Self.request(operation, parameters: parameters, body: item["requestBody"], schema: schema, name: "nobody-at-all")
                    let missing = try await HTTPAPITests.request(operation.method.uppercased(), base + nobody.path, token: token, body: nobody.body, headers: nobody.headers)
                    #expect(missing.status == 404, "\(label) for nobody: \(missing.status) \(missing.body)")
                    if let response = schema.resolve(responses["404"] ?? [:]) as? Node {
                        #expect(schema.check(missing, against: response).isEmpty, "\(label) 404: \(missing.body)")
                    }
                }
            }
        }
    }

    /// One operation: its path, method and documented statuses, in the
    /// document's order (YAML's dictionaries forget it: read from the text).
    struct Operation {
        var path: String
        var method: String
        var statuses: [Int]
    }

    static func operations(of text: String, _ paths: Node) -> [Operation] {
        var found: [Operation] = []
        var path: String?
        var method: String?
        var inResponses = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let indent = line.prefix { $0 == " " }.count
            let content = line.trimmingCharacters(in: .whitespaces)
            if indent == 2, content.hasPrefix("/"), content.hasSuffix(":") {
                path = String(content.dropLast())
            } else if indent == 0, !content.isEmpty, !content.hasPrefix("#") {
                path = nil
            } else if let path, indent == 4, ["get:", "post:", "put:", "delete:", "patch:"].contains(content) {
                method = String(content.dropLast())
                found.append(Operation(path: path, method: method!, statuses: []))
                inResponses = false
            } else if method != nil, indent == 6 {
                inResponses = content == "responses:"
            } else if inResponses, indent == 8, content.hasPrefix("\""), let status = Int(content.dropFirst().prefix(3)) {
                found[found.count - 1].statuses.append(status)
            }
        }
        return found.filter { (paths[$0.path] as? Node)?[$0.method] != nil }
    }

    /// A request made of an operation's examples.
    struct Request {
        var path: String
        var body: String?
        var headers: [String: String]
    }

    static func request(_ operation: Operation, parameters: [Node], body: Any?, schema: SchemaCheck, name: String? = nil) throws -> Request {
        var path = operation.path
        var query: [String] = []
        var headers: [String: String] = [:]
        for parameter in parameters {
            let parameterName = try #require(parameter["name"] as? String)
            guard let example = parameter["example"] else {
                #expect(parameter["required"] as? Bool != true, "\(operation.path): the required parameter \(parameterName) has no example")
                continue
            }
            let value = name.flatMap { parameter["in"] as? String == "path" ? $0 : nil } ?? "\(example)"
            let encoded = value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? value
            switch parameter["in"] as? String {
            case "path": path = path.replacingOccurrences(of: "{\(parameterName)}", with: encoded)
            case "query": query.append("\(parameterName)=\(encoded)")
            case "header": headers[parameterName] = value
            default: Issue.record("\(operation.path): the parameter \(parameterName) is in \(parameter["in"] ?? "nowhere")")
            }
        }
        #expect(!path.contains("{"), "\(operation.path): a path parameter without an example")
        if !query.isEmpty { path += "?" + query.joined(separator: "&") }
        var text: String?
        if let body = schema.resolve(body ?? [:]) as? Node, let content = body["content"] as? Node {
            let json = try #require((content["application/json"] as? Node)?["example"], "\(operation.path): a body without an example")
            text = String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.fragmentsAllowed]), as: UTF8.self)
        }
        return Request(path: path, body: text, headers: headers)
    }
}

/// The subset of JSON Schema the document uses: `$ref`, `type`,
/// `required`, `properties`, `items`, `enum`, `const`.
struct SchemaCheck {
    let document: [String: Any]

    /// `value` with a `$ref` followed.
    func resolve(_ value: Any) -> Any {
        guard let node = value as? [String: Any], let reference = node["$ref"] as? String, reference.hasPrefix("#/") else { return value }
        var target: Any = document
        for part in reference.dropFirst(2).split(separator: "/") {
            guard let next = (target as? [String: Any])?[String(part)] else { return value }
            target = next
        }
        return resolve(target)
    }

    /// What is wrong with `answer` for the documented `response`: its content type and body.
    func check(_ answer: HTTPAPITests.Answer, against response: [String: Any]) -> [String] {
        guard let content = response["content"] as? [String: Any], let (type, media) = content.first else { return [] }
        let contentType = answer.headers["content-type"] ?? ""
        guard contentType.hasPrefix(type) else { return ["content type \(contentType), documented \(type)"] }
        guard type == "application/json" else { return [] }
        guard let value = answer.json else { return ["the body is not JSON"] }
        return check(value, against: (media as? [String: Any])?["schema"] ?? [:], at: "$")
    }

    func check(_ value: JSONValue, against schemaValue: Any, at path: String) -> [String] {
        guard let schema = resolve(schemaValue) as? [String: Any] else { return [] }
        var problems: [String] = []
        if let type = schema["type"] as? String, !Self.matches(value, type) { return ["\(path) is not \(type): \(value)"] }
        if let choices = schema["enum"] as? [Any], !choices.contains(where: { "\($0)" == value.stringValue }) {
            problems.append("\(path) is none of \(choices)")
        }
        if let constant = schema["const"] as? Bool, value != .bool(constant) { problems.append("\(path) is not \(constant)") }
        if case .object = value {
            for key in schema["required"] as? [String] ?? [] where value[key] == nil { problems.append("\(path).\(key) is missing") }
            for (key, property) in schema["properties"] as? [String: Any] ?? [:] {
                if let field = value[key] { problems += check(field, against: property, at: "\(path).\(key)") }
            }
        }
        if case .array(let elements) = value, let items = schema["items"] {
            for (index, element) in elements.enumerated() { problems += check(element, against: items, at: "\(path)[\(index)]") }
        }
        return problems
    }

    static func matches(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null): true
        case ("integer", .integer), ("integer", .unsigned), ("number", .integer), ("number", .unsigned), ("number", .double): true
        case ("integer", .double(let number)): number.rounded() == number
        default: false
        }
    }
}
