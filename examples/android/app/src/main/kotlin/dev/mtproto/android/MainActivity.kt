// A minimal screen: an address field, a Connect button, and a log that
// shows the echo answer, connection states and pushed updates. The API use
// is the same as examples/kotlin-jvm and the JVM tests: Runtime →
// openSession(SessionConfig) → suspend invoke → UpdateListener → shutdown.
package dev.mtproto.android

import android.app.Activity
import android.os.Bundle
import android.util.Log
import android.view.ViewGroup.LayoutParams.MATCH_PARENT
import android.view.ViewGroup.LayoutParams.WRAP_CONTENT
import android.widget.Button
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.ScrollView
import android.widget.TextView
import dev.mtproto.LogLevel
import dev.mtproto.LogListener
import dev.mtproto.MtprotoException
import dev.mtproto.MtprotoJvm
import dev.mtproto.Runtime
import dev.mtproto.ReconnectProfile
import dev.mtproto.Session
import dev.mtproto.SessionConfig
import dev.mtproto.SessionState
import dev.mtproto.StateListener
import dev.mtproto.UpdateListener
import dev.mtproto.setLogListener
import dev.mtproto.testing.TestApi
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch

class MainActivity : Activity() {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Main)
    private lateinit var runtime: Runtime
    private var session: Session? = null
    private lateinit var log: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        MtprotoJvm.keepCallbackThreadsAttached()
        // The library's own log (connection states, reconnects, errors; never
        // keys or bodies) in logcat under the tag "mtproto". Records arrive on
        // the library's log thread. DEBUG builds see everything down to DEBUG.
        setLogListener(if (BuildConfig.DEBUG) LogLevel.DEBUG else LogLevel.WARN, LogcatListener)
        runtime = Runtime()

        val address = EditText(this).apply { setText(BuildConfig.DEFAULT_ADDRESS) }
        val connect = Button(this).apply { text = "Connect, echo, get 5 updates" }
        log = TextView(this).apply { setTextIsSelectable(true) }
        setContentView(LinearLayout(this).apply {
            orientation = LinearLayout.VERTICAL
            addView(address, MATCH_PARENT, WRAP_CONTENT)
            addView(connect, MATCH_PARENT, WRAP_CONTENT)
            addView(ScrollView(context).apply { addView(log) }, MATCH_PARENT, MATCH_PARENT)
        })
        connect.setOnClickListener { run(address.text.toString().trim()) }
    }

    private fun append(line: String) = runOnUiThread { log.append(line + "\n") }

    private fun run(address: String) {
        session?.shutdown()
        // The localdc's public key, copied into assets before the build (README).
        val pem = assets.open("localdc.pub.pem").bufferedReader().readText()
        val s = try {
            runtime.openSession(
                SessionConfig(
                    address = address,
                    dcId = 2,
                    publicKeyPem = pem,
                    requestTimeoutMs = 10_000u,
                    reconnect = ReconnectProfile.MOBILE,
                    storePath = filesDir.resolve("mtproto.db").path,
                ),
            )
        } catch (e: MtprotoException) {
            append("cannot open: ${e.message}")
            return
        }
        session = s
        // Listener calls arrive on the library's dispatcher thread, in batches.
        s.setStateListener(object : StateListener {
            override fun onState(state: SessionState) = append("state: ${state.javaClass.simpleName}")
        })
        s.setUpdateListener(object : UpdateListener {
            override fun onUpdates(batch: List<ByteArray>) {
                for (u in batch) {
                    val (seq, data) = TestApi.update(u)
                    append("update seq=$seq (${data.size} bytes)")
                }
            }
        })
        scope.launch {
            try {
                val reply = s.invoke(TestApi.echo("hello from Android".toByteArray()))
                append("echo: ${String(TestApi.payload(reply))}")
                s.invoke(TestApi.pushUpdates(5, 16))
            } catch (e: MtprotoException) {
                append("failed: ${e.javaClass.simpleName}: ${e.message}")
            }
        }
    }

    override fun onDestroy() {
        scope.cancel() // cancels pending invokes (rpc_drop_answer)
        session?.shutdown()
        runtime.shutdown()
        super.onDestroy()
    }
}

/** Forwards the library's log records to android.util.Log. */
private object LogcatListener : LogListener {
    override fun onLog(level: LogLevel, target: String, message: String) {
        val text = "$target: $message"
        when (level) {
            LogLevel.ERROR -> Log.e("mtproto", text)
            LogLevel.WARN -> Log.w("mtproto", text)
            LogLevel.INFO -> Log.i("mtproto", text)
            LogLevel.DEBUG -> Log.d("mtproto", text)
            LogLevel.TRACE -> Log.v("mtproto", text)
        }
    }
}
