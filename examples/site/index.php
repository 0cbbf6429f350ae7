<?php
// The front controller: every path without a file of its own lands here, as with
// nginx's `try_files $uri $uri/ /index.php?$query_string`.
$keys = ['REQUEST_METHOD', 'REQUEST_URI', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING',
    'DOCUMENT_URI', 'REMOTE_ADDR', 'HTTP_HOST', 'SERVER_NAME', 'SERVER_PORT', 'REQUEST_SCHEME', 'HTTPS'];
$h = fn($s) => htmlspecialchars((string)$s, ENT_QUOTES);
?><!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>lamphp examples</title><link rel="stylesheet" href="/assets/style.css"></head>
<body>
<h1>lamphp</h1>
<p>This page is <code>index.php</code>, the front controller. What PHP sees of this request:</p>
<table>
<?php foreach ($keys as $k): ?>
<tr><th><?= $h($k) ?></th><td><code><?= isset($_SERVER[$k]) ? $h(var_export($_SERVER[$k], true)) : '<em>unset</em>' ?></code></td></tr>
<?php endforeach ?>
</table>
<h2>Try</h2>
<ul>
<li><a href="/some/pretty/url?x=1&amp;y=%20two">/some/pretty/url?x=1&amp;y=%20two</a>: no such file, so the front controller answers</li>
<li><a href="/app/info.php/extra/path">/app/info.php/extra/path</a>: a script with PATH_INFO</li>
<li><a href="/form.php">/form.php</a>: a form with a file upload</li>
<li><a href="/assets/style.css">/assets/style.css</a>: a static file (ETag, Range, 304)</li>
<li><a href="/assets">/assets</a>: a directory without its slash: 301, like nginx</li>
<li><a href="/.env">/.env</a>: dotfiles are never served (404)</li>
</ul>
</body>
</html>
