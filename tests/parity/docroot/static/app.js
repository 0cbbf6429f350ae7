console.log("static js");
