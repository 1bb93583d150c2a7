fetch('updates.json').then(r => r.json()).then(u => {
  document.getElementById('updated').textContent = 'Last update: ' + u.updated + ' — ' + u.note;
});
