package dev.mtproto

import java.io.BufferedReader
import java.io.File
import java.io.InputStreamReader
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit

/** A system property set by the Maven build (see pom.xml), or a clear failure. */
fun requiredProperty(name: String): String =
    System.getProperty(name) ?: error("system property $name is not set (run through Maven / scripts/test-kotlin.sh)")

/**
 * A `mtproto-localdc` child process on 127.0.0.1 with a random port.
 *
 * The server prints `listening on IP:PORT` as its first line; everything
 * after is drained so the pipe never fills. [close] sends SIGTERM and
 * waits, then kills.
 */
class LocalDcProcess private constructor(
    private val process: Process,
    val address: String,
    val publicKeyPem: String,
) : AutoCloseable {
    override fun close() {
        process.destroy()
        if (!process.waitFor(5, TimeUnit.SECONDS)) {
            process.destroyForcibly()
            process.waitFor(5, TimeUnit.SECONDS)
        }
    }

    companion object {
        /** Starts one; the RSA key is kept in [workDir] so later runs skip creating it. */
        fun start(
            binary: String = requiredProperty("mtproto.localdc"),
            workDir: File = File(requiredProperty("mtproto.workDir")),
        ): LocalDcProcess {
            workDir.mkdirs()
            val key = File(workDir, "localdc.pem")
            val pub = File(workDir, "localdc.pub.pem")
            val process = ProcessBuilder(
                binary, "--rsa-key", key.path, "--listen", "127.0.0.1:0", "--public-key-out", pub.path,
            ).redirectError(ProcessBuilder.Redirect.INHERIT).start()
            val firstLine = CompletableFuture<String>()
            Thread({
                val reader = BufferedReader(InputStreamReader(process.inputStream))
                try {
                    firstLine.complete(reader.readLine() ?: "")
                    while (reader.readLine() != null) { /* drain */ }
                } catch (e: Exception) {
                    firstLine.completeExceptionally(e)
                }
            }, "localdc-stdout").apply { isDaemon = true }.start()
            val line = try {
                firstLine.get(60, TimeUnit.SECONDS)
            } catch (e: Exception) {
                process.destroyForcibly()
                throw IllegalStateException("mtproto-localdc did not print its address", e)
            }
            val prefix = "listening on "
            check(line.startsWith(prefix)) {
                process.destroyForcibly()
                "unexpected first line from mtproto-localdc: $line"
            }
            return LocalDcProcess(process, line.removePrefix(prefix).trim(), pub.readText())
        }
    }
}

/** A session config for a localdc with short timeouts, so no test waits long. */
fun testConfig(dc: LocalDcProcess, requestTimeoutMs: ULong = 10_000u) = SessionConfig(
    address = dc.address,
    dcId = 2,
    publicKeyPem = dc.publicKeyPem,
    connectTimeoutMs = 5_000u,
    requestTimeoutMs = requestTimeoutMs,
)
