import OsmoCore

/// Turns a failed HTTP answer into a sentence: status, what was asked, and the store's own
/// error code and message (S3 / Azure XML `<Code>`, `<Message>`).
enum TransferError {
    static func http(status: Int, label: String, method: String, body: String) -> OsmoError {
        let code: OsmoError.Code = switch status {
        case 401, 403: .unauthorized
        case 404: .notFound
        default: .io
        }
        var detail = ""
        if let storeCode = XMLText.first("Code", in: body) {
            detail = ": \(storeCode)"
            if let message = XMLText.first("Message", in: body) { detail += " (\(message))" }
        } else if !body.isEmpty, body.count < 200, !body.contains("<") {
            detail = ": \(body.trimmingSpaces())"
        }
        let verb = method == "GET" ? "" : "\(method) "
        return OsmoError(code, "\(verb)\(label): HTTP \(status)\(detail)")
    }
}
