/// osmo-ctrl's command line: the reference's Go flags (PROTOCOL.md §3), exactly as the OSMO
/// service generates them, plus `-logFile` (ours).
public enum CtrlFlags {
    public static func spec(program: String = "osmo_ctrl") -> GoFlags {
        var flags = GoFlags(program: program)
        flags.list("inputs", "Input specs: task:<index>,<url>,<regex> or url:<index>,<url>,<regex>.")
        flags.list("outputs", "Output specs: task:<url>, url:<url>,<regex> or kpi:<url>,<path>.")
        flags.string("workflow", "", "Workflow ID.")
        flags.string("groupName", "", "Group name.")
        flags.string("retryId", "0", "Retry ID.")
        flags.string("logSource", "", "Task name used as the log source.")
        flags.string("barrier", "", "Barrier name (empty: none).")
        flags.string("socketPath", "", "Unix socket shared with osmo_exec.")
        flags.string("inputPath", "", "Input directory.")
        flags.string("outputPath", "", "Output directory.")
        flags.string("metadataFile", "", "Unused (reference compatibility).")
        flags.string("scheme", "ws", "Service websocket scheme (ws|wss).")
        flags.string("host", "localhost", "Service host.")
        flags.int("port", 8000, "Service port.")
        flags.string("refreshToken", "/osmo/.refresh_token", "Refresh token file.")
        flags.string("refreshScheme", "http", "Token refresh scheme.")
        flags.string("tokenHeader", "", "Header carrying the service token (default: Authorization with Bearer; x-osmo-auth with a 6.1 service, found by its GET-only token endpoint).")
        flags.string("userConfig", "/osmo/user_config.yaml", "User data credentials.")
        flags.string("serviceConfig", "/osmo/service_config.yaml", "Service data credentials.")
        flags.int("timeout", 60, "Minutes of websocket reconnect budget.")
        flags.int("unixTimeout", 120, "Minutes to wait for osmo_exec.")
        flags.int("execTimeout", 5, "Minutes to wait for an exec session.")
        flags.int("dataTimeout", 10, "Minutes without transfer progress.")
        flags.int("logsPeriod", 100, "Log flush period (ms).")
        flags.int("logsBufferSize", 10000, "Log buffer size (lines).")
        // Passed by every released service up to 6.3 (kb_objects.py), gone on the reference's
        // main since: accepted and ignored (inputs are always downloaded; no cache is kept).
        flags.string("downloadType", "download", "Accepted and ignored (services up to 6.3 pass 'download').")
        flags.int("cacheSize", 0, "Accepted and ignored (services up to 6.3 pass the cache size in MiB).")
        flags.string("keepArchives", "", "Inputs whose archives are kept as files, not extracted: all, or input folders (0,2). Default: $OSMO_KEEP_ARCHIVES, else every archive is extracted.")
        flags.string("logFile", "", "JSON-lines copy of the task log (default: osmo-ctrl.jsonl beside -inputPath).")
        return flags
    }
}
