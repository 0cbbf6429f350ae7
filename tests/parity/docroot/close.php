<?php
// Asks to close the connection: PHP cannot, since the server owns it (and hides the header).
header('Connection: close');
echo "closing?\n";
