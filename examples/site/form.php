<?php
// A form with a file upload: multipart bodies reach PHP exactly as through nginx.
$h = fn($s) => htmlspecialchars((string)$s, ENT_QUOTES);
?><!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>form</title><link rel="stylesheet" href="/assets/style.css"></head>
<body>
<h1>Form</h1>
<form method="post" enctype="multipart/form-data">
<p><label>Name <input name="name" value="<?= $h($_POST['name'] ?? '') ?>"></label></p>
<p><label>File <input type="file" name="upload"></label></p>
<p><button>Send</button></p>
</form>
<?php if ($_SERVER['REQUEST_METHOD'] === 'POST'): ?>
<h2>Received</h2>
<p>name: <code><?= $h($_POST['name'] ?? '') ?></code></p>
<?php if (!empty($_FILES['upload']['tmp_name'])): ?>
<p>file: <code><?= $h($_FILES['upload']['name']) ?></code>, <?= (int)$_FILES['upload']['size'] ?> bytes,
sha1 <code><?= sha1_file($_FILES['upload']['tmp_name']) ?></code></p>
<?php endif ?>
<?php endif ?>
<p><a href="/">back</a></p>
</body>
</html>
