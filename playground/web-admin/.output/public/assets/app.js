const list = document.getElementById('tasks')
fetch('../api/v1/tasks')
  .then((r) => r.json())
  .then(({ tasks }) => {
    for (const task of tasks) {
      const li = document.createElement('li')
      li.textContent = `${task.done ? '✔' : '○'} ${task.title}`
      list.append(li)
    }
  })
