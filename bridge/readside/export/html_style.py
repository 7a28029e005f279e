"""The style sheet of the HTML transcripts: on screen like a chat, on paper plain and legible."""

CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
  background:#efeae2;color:#111}
header{background:#075e54;color:#fff;padding:12px 20px}
header h1{font-size:18px;margin:0}
header p{margin:2px 0 0;font-size:12px;opacity:.9}
main{max-width:880px;margin:0 auto;padding:16px}
h2.day{font-size:12px;font-weight:600;color:#54656f;text-align:center;margin:18px 0 8px}
h2.day::before,h2.day::after{content:" — "}
table.people{font-size:12px;background:#fff;border-collapse:collapse;margin:0 auto 10px;
  border-radius:6px}
table.people caption{font-weight:600;text-align:left;padding:4px 0}
table.people td,table.people th{padding:3px 8px;border-bottom:1px solid #e3e3e3;text-align:left;
  vertical-align:top}
.rec{margin:6px 0;display:flex;flex-direction:column}
.rec.inbound{align-items:flex-start}
.rec.outbound{align-items:flex-end}
.rec.mark{align-items:center}
.bubble{max-width:72%;padding:6px 10px;border-radius:8px;box-shadow:0 1px .5px rgba(0,0,0,.13);
  background:#fff}
.outbound .bubble{background:#d9fdd3}
.bubble.deleted-msg{border:1px dashed #b3261e}
.text{white-space:pre-wrap;word-wrap:break-word}
.who{font-size:12px;font-weight:600;color:#075e54}
.meta{font-size:11px;color:#667781;margin-top:3px}
.quote{display:block;font-size:12px;color:#54656f;border-left:3px solid #25d366;
  padding:1px 6px;margin:2px 0 4px;background:#0000000a;text-decoration:none}
.delivery{font-size:11px;margin-top:2px}
.st{display:inline-block;margin-right:8px;color:#667781}
.st.read{color:#027eb5;font-weight:600}
.st.failed{color:#b3261e;font-weight:600}
.st.relay{color:#6b5fb5}
.edit,.deleted,.policy-mark{font-size:12px;margin-top:3px;padding:2px 6px;border-radius:4px}
.edit{background:#fff8e1;color:#5d4400}
.deleted{background:#fde7e9;color:#8c1d18}
.policy-mark{background:#fff3cd;color:#664d03;border:1px solid #ffda6a}
.reactions{margin-top:3px}
.reaction{display:inline-block;font-size:12px;background:#f0f2f5;border-radius:10px;
  padding:1px 7px;margin:1px 4px 1px 0}
.reaction.removed{color:#667781;font-style:italic}
.mark .note{font-size:12px;color:#54656f;background:#ffffffb0;border-radius:6px;padding:2px 8px;
  white-space:pre-wrap;max-width:80%}
.policy .note,.flag{background:#fff3cd;color:#664d03;border:1px solid #ffda6a}
.error .note{background:#f8d7da;color:#842029;border:1px solid #f5c2c7}
.flag{display:inline-block;font-size:11px;border-radius:4px;padding:1px 5px;margin-top:3px}
img.media{max-width:320px;max-height:320px;display:block;border-radius:6px;margin:4px 0}
.missing{font-style:italic;color:#842029}
nav a{display:block;padding:4px 0}
@media print{body{background:#fff}header{background:#fff;color:#000;border-bottom:2px solid #000}
.bubble{box-shadow:none;border:1px solid #999}.rec{break-inside:avoid}}
"""
