import Glibc

/// Whether connections to the OSMO service (ctrl's logger and router websockets, the token
/// refresh, the CLI's action calls) verify the service's certificate. Always, unless the operator
/// sets `OSMO_SERVICE_TLS_INSECURE=1` on the container: the documented opt-out for a service with
/// a self-signed certificate, which the reference ctrl accepted silently (its logger websocket
/// never verified). Storage connections always verify; a private CA belongs in `SSL_CERT_FILE`.
public enum ServiceTLS {
    public static let verify: Bool = {
        guard let raw = getenv("OSMO_SERVICE_TLS_INSECURE") else { return true }
        return !["1", "true", "yes"].contains(String(cString: raw).lowercased())
    }()

    /// Said once at start-up by the roles that talk to the service.
    public static let warning = "WARNING: OSMO_SERVICE_TLS_INSECURE is set: the OSMO service's TLS certificate is not verified"

    /// What to add to a TLS failure's message: how to make the certificate trusted.
    public static func hint(for failure: String) -> String? {
        let lowered = failure.lowercased()
        guard ["certificate", "ssl", "tls", "hostname"].contains(where: lowered.contains) else { return nil }
        return "if the service uses a private CA, point SSL_CERT_FILE at a bundle that holds it (or set OSMO_SERVICE_TLS_INSECURE=1 to skip verification)"
    }
}
