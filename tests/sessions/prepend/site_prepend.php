<?php
// The site's own auto_prepend_file (set in php.ini), which the session handler keeps.
define('SITE_PREPENDED', true);
